/**
 * End to end: one host goes in_place -> zero_downtime -> bluegreen ->
 * in_place, a deploy after each change of deployment_strategy. Every deploy
 * succeeds and serves its text and its stylesheet from the folder of what
 * serves (nginx's live-static link follows the strategy); the move from
 * in_place to a slot strategy refuses no request.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  failedRequests,
  formatLoad,
  httpGet,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
  withLoad,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

/** Sets deployment_strategy and the page's text in one commit. */
async function switchTo(project: TestProject, strategy: string, text: string): Promise<void> {
  const path = `${project.infraDir}/djaploy.toml`;
  const toml = await Deno.readTextFile(path);
  const next = toml.replace(/^deployment_strategy = ".*"$/m, `deployment_strategy = "${strategy}"`);
  assert.ok(next.includes(`deployment_strategy = "${strategy}"`), toml);
  await project.write("infra/djaploy.toml", next);
  await project.write("pages/message.txt", `${text}\n`);
  await project.commit(`${strategy}: ${text}`);
}

/**
 * nginx's /static/ is the folder of what serves (root's live-static link: in_place's
 * shared/staticfiles, or the live slot's), and the stylesheet the page links answers there.
 */
async function assertStatic(host: TestHost, strategy: string): Promise<void> {
  const r = await host.ssh(
    "readlink /var/lib/djaploy/apps/hello/static; sudo -n cat /var/lib/djaploy/apps/hello/active-slot",
  );
  const [link, slot] = r.stdout.trim().split("\n");
  const folder = strategy === "in_place" ? "staticfiles" : `staticfiles-${slot}`;
  assert.equal(link, `/home/app/apps/hello/shared/${folder}`, `${strategy}: the live-static link`);
  const page = await httpGet(`http://${host.ip}/`);
  const href = /<link rel="stylesheet" href="([^"]+)">/.exec(page.body)?.[1];
  assert.ok(href, `${strategy}: the page links no stylesheet: ${page.body.slice(0, 300)}`);
  const css = await httpGet(`http://${host.ip}${href}`);
  assert.equal(css.status, 200, `${strategy}: ${href} answered ${css.status}`);
}

async function strategyOnHost(project: TestProject): Promise<string> {
  const r = await djaploy(project, ["status", "--env", "test", "--json"]);
  ok(r, "status --json");
  return (JSON.parse(r.stdout) as { strategy: string }[])[0].strategy;
}

e2eTest("switch strategy: in_place -> zero_downtime -> bluegreen -> in_place", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const problems: string[] = [];
    const project = await makeProject({ hosts: [host], strategy: "in_place" });
    ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "in_place deploy");
    assert.equal(await pageMessage(host), "Hello from djaploy!");
    await assertStatic(host, "in_place");

    // in_place -> zero_downtime, under light load.
    await switchTo(project, "zero_downtime", "Now zero_downtime");
    const { value: ms, load } = await withLoad(`http://${host.ip}/`, async () => {
      const r = await djaploy(project, ["deploy", "--env", "test"]);
      ok(r, "deploy after the switch to zero_downtime");
      assert.equal(await pageMessage(host), "Now zero_downtime");
      return r.ms;
    }, { threads: 1, connections: 2 });
    // deno-lint-ignore no-console
    console.log(`${formatLoad("in_place -> zero_downtime switch", load)}; deploy ${ms} ms`);
    assert.ok(load.requests >= 50, `too few requests to prove anything:\n${load.output}`);
    assert.equal(await strategyOnHost(project), "zero_downtime");
    await assertStatic(host, "zero_downtime");
    const inPlace = await host.ssh("systemctl is-active hello.service");
    assert.notEqual(inPlace.stdout.trim(), "active", "the in_place unit was stopped");

    // zero_downtime -> bluegreen: the first bluegreen deploy activates.
    await switchTo(project, "bluegreen", "Now bluegreen");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after the switch to bluegreen");
    const shown = await pageMessage(host);
    if (shown !== "Now bluegreen") {
      // Recorded, then activated by hand, so that the switch back to in_place is still tested.
      problems.push(
        `the first bluegreen deploy after zero_downtime did not activate: the page shows "${shown}"`,
      );
      ok(await djaploy(project, ["activate", "--env", "test"]), "activate");
      assert.equal(await pageMessage(host), "Now bluegreen");
    }
    assert.equal(await strategyOnHost(project), "bluegreen");
    await assertStatic(host, "bluegreen");

    // bluegreen -> in_place.
    await switchTo(project, "in_place", "Back to in_place");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after the switch to in_place");
    assert.equal(await pageMessage(host), "Back to in_place");
    assert.equal(await strategyOnHost(project), "in_place");
    await assertStatic(host, "in_place");
    const units = await host.ssh(
      "systemctl is-active hello.service; systemctl is-active hello-blue.service hello-green.service",
    );
    assert.match(units.stdout, /^active\n/, "in_place runs hello.service");
    const boot = await host.ssh("systemctl is-enabled hello.service");
    assert.equal(boot.stdout.trim(), "enabled", "hello.service starts at boot again");
    const left = await host.ssh(
      "systemctl is-active hello-blue.service hello-green.service; systemctl is-enabled hello-slots.service",
    );
    // deno-lint-ignore no-console
    console.log(
      `switch strategy: back on in_place, hello-blue/hello-green/hello-slots(enabled): ${
        left.stdout.trim().split("\n").join(" ")
      }`,
    );

    // Checked last, so that a failure here does not hide what the later switches do.
    if (failedRequests(load) > 0) {
      problems.push(`requests failed during the in_place -> zero_downtime switch:\n${load.output}`);
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });
});
