/**
 * End to end, zero_downtime: every deploy is a new release started in the idle
 * slot, health-checked, then given the traffic. Under constant load no
 * request fails; a release that fails (health check or migration) never gets
 * traffic; releases are pruned but never the live or previous good one.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  failedRequests,
  formatLoad,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
  withLoad,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const APP = "/home/app/apps/hello";

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

async function exists(host: TestHost, path: string): Promise<boolean> {
  return (await host.ssh(`sudo -n test -e ${path}`)).code === 0;
}

interface Release {
  name: string;
  failed: boolean;
  record?: { commit?: string };
}

interface HostStatus {
  host: string;
  strategy: string;
  live?: { release: string; commit: string };
  active_slot?: string;
  current?: string;
  slots: Record<string, { release?: string; state?: string; unit: string; unit_state: string }>;
  releases: Release[];
}

async function status(project: TestProject): Promise<HostStatus> {
  const r = await djaploy(project, ["status", "--env", "test", "--json"]);
  ok(r, "status --json");
  const all = JSON.parse(r.stdout) as HostStatus[];
  assert.equal(all.length, 1, r.stdout);
  return all[0];
}

async function releases(project: TestProject): Promise<{ current?: string; releases: Release[] }> {
  const r = await djaploy(project, ["releases", "--env", "test", "--json"]);
  ok(r, "releases --json");
  const all = JSON.parse(r.stdout) as { current?: string; releases: Release[] }[];
  assert.equal(all.length, 1, r.stdout);
  return all[0];
}

/** 6 kB that every release shares, so rsync sends only a delta against the previous release. */
const LONG_TEXT = Array.from({ length: 100 }, (_, i) => `line ${i} of a file larger than a block`)
  .join("\n");

async function commitMessage(project: TestProject, text: string): Promise<void> {
  await project.write("pages/message.txt", `${text}\n`);
  // A changed file larger than rsync's block size goes as a delta against its copy in the
  // previous release (--link-dest): that basis must be found (rsync refuses a "../" one).
  await project.write("pages/long.txt", `${LONG_TEXT}\n${text}\n`);
  await project.commit(text);
}

async function configured(host: TestHost, files: Record<string, string> = {}) {
  const project = await makeProject({ hosts: [host], strategy: "zero_downtime", files });
  ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
  return project;
}

const URLS_PY = await Deno.readTextFile(
  new URL("../../examples/hello/hello/urls.py", import.meta.url),
);

/** hello/urls.py whose /health/ answers 500: the release must never get traffic. */
const BROKEN_URLS_PY = URLS_PY
  .replace(
    "from django.urls import path",
    "from django.http import HttpResponseServerError\nfrom django.urls import path",
  )
  .replace(
    "views.health",
    'lambda request: HttpResponseServerError("broken on purpose")',
  );

const FAILING_MIGRATION = `from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("pages", "0001_initial")]
    operations = [migrations.RunPython(fail)]
`;

e2eTest("zero_downtime: five deploys under constant load fail no request", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await configured(host);
    ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
    assert.equal(await pageMessage(host), "Hello from djaploy!");

    const { value: ms, load } = await withLoad(`http://${host.ip}/`, async () => {
      const times: number[] = [];
      for (let i = 1; i <= 5; i++) {
        await commitMessage(project, `Release ${i} under load`);
        const r = await djaploy(project, ["deploy", "--env", "test"]);
        ok(r, `deploy ${i}`);
        times.push(r.ms);
        assert.equal(await pageMessage(host), `Release ${i} under load`, `after deploy ${i}`);
      }
      return times;
    });
    // deno-lint-ignore no-console
    console.log(`${formatLoad("zero_downtime, 5 deploys", load)}; deploys ${ms.join(", ")} ms`);
    assert.equal(failedRequests(load), 0, `requests failed under load:\n${load.output}`);
    assert.ok(load.requests >= 200, `too few requests to prove anything:\n${load.output}`);
  });
});

e2eTest(
  "zero_downtime: a release failing its health check gets no traffic; pruning keeps live and previous",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await configured(host);
      const inventory = await Deno.readTextFile(`${project.infraDir}/inventory/test.toml`);
      await project.write(
        "infra/inventory/test.toml",
        // Fewer health-check probes: a failing release fails in 2 s, not 10.
        `[defaults]\nkeep_releases = 2\n\n[defaults.health_check]\nretries = 20\n\n${inventory}`,
      );
      await commitMessage(project, "Good 1");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy Good 1");
      assert.equal(await pageMessage(host), "Good 1");

      const failing = async (text: string) => {
        await project.write("hello/urls.py", BROKEN_URLS_PY);
        await commitMessage(project, text);
        const r = await djaploy(project, ["deploy", "--env", "test"]);
        assert.equal(r.code, 1, `a deploy failing its health check must exit 1:\n${r.output}`);
        assert.match(r.output, /health check failed/);
        assert.match(r.output, /broken on purpose|HTTP 500/);
        const list = await releases(project);
        const newest = list.releases.at(-1)!;
        assert.ok(newest.failed, `releases marks the new one failed: ${JSON.stringify(list)}`);
        const table = await djaploy(project, ["releases", "--env", "test"]);
        ok(table, "releases");
        assert.match(table.output, new RegExp(`${newest.name} +failed`));
        await project.write("hello/urls.py", URLS_PY);
        return { list, failed: newest.name };
      };

      // A failed release: the live one keeps serving, `current` does not move.
      const before = await releases(project);
      const f1 = await failing("Broken 1");
      assert.equal(await pageMessage(host), "Good 1", "the old release keeps serving");
      assert.equal(f1.list.current, before.current, "current did not move");
      const st = await status(project);
      assert.equal(st.current, before.current);
      assert.equal(st.slots[st.active_slot!].unit_state, "active");
      assert.equal(
        await onHost(host, "readlink /run/djaploy/hello.sock"),
        `/run/hello-${st.active_slot}/hello.sock`,
        "traffic still goes to the live slot",
      );

      // Good deploys and another failure, with keep_releases = 2.
      const history: string[] = [before.current!];
      const good = async (text: string) => {
        await commitMessage(project, text);
        ok(await djaploy(project, ["deploy", "--env", "test"]), `deploy ${text}`);
        assert.equal(await pageMessage(host), text);
        const list = await releases(project);
        const previous = history.at(-1)!;
        history.push(list.current!);
        const names = list.releases.map((x) => x.name);
        assert.notEqual(list.current, previous, "current moved to the new release");
        assert.ok(names.includes(list.current!), `live kept: ${names}`);
        assert.ok(names.includes(previous), `previous good release ${previous} kept: ${names}`);
        const goodOnes = list.releases.filter((x) => !x.failed);
        assert.ok(goodOnes.length <= 2, `at most keep_releases good ones: ${names}`);
        assert.deepEqual(
          list.releases.filter((x) => x.failed).map((x) => x.name),
          [],
          "failed releases are pruned by the next good deploy",
        );
        return list;
      };
      const g2 = await good("Good 2");
      assert.ok(!g2.releases.some((x) => x.name === f1.failed), "the failed release was pruned");
      const f2 = await failing("Broken 2");
      assert.equal(await pageMessage(host), "Good 2");
      assert.ok(
        f2.list.releases.some((x) => x.name === history.at(-2)),
        "a failed deploy prunes nothing",
      );
      await good("Good 3");
      const last = await good("Good 4");
      assert.deepEqual(
        last.releases.map((x) => x.name),
        history.slice(-2),
        "exactly the live and the previous good release are left",
      );
      const dirs = await onHost(host, `ls ${APP}/releases`);
      assert.deepEqual(dirs.split("\n"), history.slice(-2), "and nothing else is on disk");
    });
  },
);

e2eTest(
  "zero_downtime: a failing migration switches nothing, and its release is not listed as good",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await configured(host);
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      const before = await status(project);

      await project.write("pages/migrations/0002_fails.py", FAILING_MIGRATION);
      await commitMessage(project, "Never served");
      const r = await djaploy(project, ["deploy", "--env", "test"]);
      assert.equal(r.code, 1, `a failing migration must fail the deploy:\n${r.output}`);
      assert.match(r.output, /failed at migrate and collectstatic/);
      assert.match(r.output, /this migration fails on purpose/);

      assert.equal(await pageMessage(host), "Hello from djaploy!", "the old release keeps serving");
      const after = await status(project);
      assert.equal(after.active_slot, before.active_slot, "the active slot did not change");
      assert.equal(after.current, before.current, "current did not move");
      assert.equal(after.live?.release, before.live?.release);
      assert.equal(
        await onHost(host, "readlink /run/djaploy/hello.sock"),
        `/run/hello-${before.active_slot}/hello.sock`,
      );
      const idle = before.active_slot === "blue" ? "green" : "blue";
      assert.notEqual(after.slots[idle].unit_state, "active", "no second slot was started");

      // The fix deploys.
      await project.remove("pages/migrations/0002_fails.py");
      await commitMessage(project, "After the fix");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after the fix");
      assert.equal(await pageMessage(host), "After the fix");

      // What `releases` says about the release whose migration failed.
      const list = await releases(project);
      const unrecorded = list.releases.filter((x) => !x.failed && !x.record);
      assert.deepEqual(
        unrecorded.map((x) => x.name),
        [],
        `a release that never ran is listed as good (not failed, no record): ${
          JSON.stringify(list.releases.map((x) => ({ name: x.name, failed: x.failed })))
        }`,
      );
    });
  },
);

e2eTest(
  "zero_downtime: deleted files are gone from the new release; rollback; redeploying the live commit is a no-op",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await configured(host, { "pages/obsolete.txt": "removed later\n" });
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      assert.ok(await exists(host, `${APP}/current/pages/obsolete.txt`));
      const first = await status(project);

      // Redeploying the live commit.
      const same = await djaploy(project, ["deploy", "--env", "test"]);
      ok(same, "redeploy of the live commit");
      assert.match(same.output, /already live/);
      assert.doesNotMatch(same.output, /started hello-/);
      // deno-lint-ignore no-console
      console.log(`zero_downtime: redeploy of the live commit took ${same.ms} ms (wall)`);
      assert.ok(same.ms < 3000, `the no-op redeploy took ${same.ms} ms`);

      // A second release without the file.
      await project.remove("pages/obsolete.txt");
      await commitMessage(project, "Second release");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "second deploy");
      assert.equal(await pageMessage(host), "Second release");
      const second = await status(project);
      assert.notEqual(second.current, first.current);
      assert.ok(
        !(await exists(host, `${APP}/current/pages/obsolete.txt`)),
        "a file deleted from the repository is absent from the new release",
      );
      assert.ok(
        await exists(host, `${APP}/releases/${first.current}/pages/obsolete.txt`),
        "the previous release is left as it was",
      );

      // Rollback serves the previous release from the other slot.
      const back = await djaploy(project, ["rollback", "--env", "test"]);
      ok(back, "rollback");
      assert.equal(await pageMessage(host), "Hello from djaploy!");
      const rolled = await status(project);
      assert.equal(rolled.current, first.current, "current is the previous release again");
      assert.equal(rolled.live?.release, first.current);
      assert.notEqual(rolled.active_slot, second.active_slot, "the other slot serves");
      const active = rolled.slots[rolled.active_slot!];
      assert.equal(active.release, first.current);
      assert.equal(active.state, "active");
      assert.equal(active.unit_state, "active");
      assert.equal(
        await onHost(host, "readlink /run/djaploy/hello.sock"),
        `/run/hello-${rolled.active_slot}/hello.sock`,
      );
      assert.equal(await onHost(host, `readlink ${APP}/current`), `releases/${first.current}`);

      // Deploying again after the rollback brings the newer code back.
      ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after rollback");
      assert.equal(await pageMessage(host), "Second release");
      assert.ok(!(await exists(host, `${APP}/current/pages/obsolete.txt`)));
    });
  },
);
