/**
 * End to end, a rolling deploy to three hosts, one at a time, where the
 * second host cannot be reached (its sshd refuses connections: a firewall
 * rule in its network namespace). With max_fail = 0 the rollout stops after
 * it: the third host is never started, the summary (and the `--json`
 * events) say which host runs which release, and once the host is back,
 * `deploy --retry-failed` deploys to the failed and the unstarted host only.
 * With `--max-fail 1` a failed first host no longer stops the rollout.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, makeProject, type TestHost, withHosts } from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";
import { run } from "./harness/run.ts";

async function firewall(host: TestHost, action: "-I" | "-D"): Promise<void> {
  const r = await run("ip", [
    ...["netns", "exec", host.nsName, "iptables", action, "INPUT", "-p", "tcp", "--dport", "22"],
    ...["-j", "REJECT", "--reject-with", "tcp-reset"],
  ]);
  assert.equal(r.code, 0, r.stderr);
}

e2eTest(
  "fleet: max_fail stops a rolling deploy, the summary says who runs what, --retry-failed finishes it",
  async () => {
    await withHosts(["web-1", "web-2", "web-3"], async (hosts) => {
      const [web1, web2, web3] = hosts;
      const project = await makeProject({ hosts });
      const inventory = await Deno.readTextFile(`${project.infraDir}/inventory/test.toml`);
      await project.write(
        "infra/inventory/test.toml",
        `[defaults]\nrolling = 1\nmax_fail = 0\n\n${inventory}`,
      );
      await project.commit("A rolling deploy, one host at a time");

      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      const before = await pageMessage(web1);
      for (const host of hosts) assert.equal(await pageMessage(host), before);

      await project.write("pages/message.txt", "Fleet release\n");
      await project.commit("Fleet release");
      await firewall(web2, "-I");
      const partial = await djaploy(project, ["deploy", "--env", "test", "--json"]);
      assert.equal(partial.code, 1, partial.output);

      // stdout: only JSON events, one a line, the summary last.
      const events = partial.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
      const hostEvents = Object.fromEntries(
        events.filter((e) => e.event === "host").map((e) => [e.host, e.status]),
      );
      assert.deepEqual(hostEvents, { "web-1": "ok", "web-2": "failed", "web-3": "not_started" });
      assert.ok(
        events.some((e) => e.event === "step" && e.host === "web-1" && e.status === "changed"),
      );
      assert.ok(
        !events.some((e) => e.event === "step" && e.host === "web-3"),
        "web-3 never started",
      );
      const summary = events.at(-1);
      assert.equal(summary.event, "summary");
      assert.equal(summary.ok, false);
      assert.deepEqual(summary.rollout, {
        new: ["web-1"],
        failed: ["web-2"],
        not_started: ["web-3"],
      });

      // stderr: the lines for people, plain text, with the rollout's state.
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(partial.stderr, /\x1b/);
      assert.match(partial.stderr, /^new release \S+: web-1$/m);
      assert.match(partial.stderr, /^failed, on the previous or the new release .*: web-2$/m);
      assert.match(partial.stderr, /^not started, still on the previous release: web-3$/m);
      assert.match(partial.stderr, /djaploy deploy --env test --retry-failed/);

      // What serves agrees with the summary.
      assert.equal(await pageMessage(web1), "Fleet release");
      assert.equal(await pageMessage(web2), before);
      assert.equal(await pageMessage(web3), before);

      await firewall(web2, "-D");
      const retry = await djaploy(project, ["deploy", "--env", "test", "--retry-failed"]);
      ok(retry, "deploy --retry-failed");
      assert.match(retry.output, /^retrying web-2, web-3: /m);
      assert.doesNotMatch(retry.output, /^web-1 /m, "web-1 succeeded before: not touched");
      assert.match(retry.output, /^web-2 +ok/m);
      assert.match(retry.output, /^web-3 +ok/m);
      for (const host of hosts) assert.equal(await pageMessage(host), "Fleet release");

      const again = await djaploy(project, ["deploy", "--env", "test", "--retry-failed"]);
      ok(again, "a second --retry-failed");
      assert.match(again.output, /Nothing to retry/);

      // --max-fail 1: the first host failing no longer stops the rollout.
      await project.write("pages/message.txt", "Third release\n");
      await project.commit("Third release");
      await firewall(web1, "-I");
      const tolerant = await djaploy(project, ["deploy", "--env", "test", "--max-fail", "1"]);
      assert.equal(tolerant.code, 1, tolerant.output);
      assert.match(tolerant.output, /^new release \S+: web-2, web-3$/m);
      assert.doesNotMatch(tolerant.output, /^not started/m);
      assert.equal(await pageMessage(web1), "Fleet release");
      assert.equal(await pageMessage(web3), "Third release");
      await firewall(web1, "-D");
      const last = await djaploy(project, ["deploy", "--env", "test", "--retry-failed"]);
      ok(last, "--retry-failed after --max-fail 1");
      assert.match(last.output, /^retrying web-1: /m);
      for (const host of hosts) assert.equal(await pageMessage(host), "Third release");
    });
  },
);

const VIEWS = await Deno.readTextFile(
  new URL("../../examples/hello/pages/views.py", import.meta.url),
);

e2eTest(
  "fleet: a canary whose health check fails stops the rollout with the other hosts untouched; a good release goes canary first, then the rest",
  async () => {
    await withHosts(["web-1", "web-2", "web-3"], async (hosts) => {
      const [, web2, web3] = hosts;
      const project = await makeProject({ hosts, strategy: "zero_downtime" });
      const inventory = await Deno.readTextFile(`${project.infraDir}/inventory/test.toml`);
      await project.write("infra/inventory/test.toml", `[defaults]\ncanary = 1\n\n${inventory}`);
      await project.write("pages/message.txt", "Before\n");
      await project.commit("A canary of one host");
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      for (const host of hosts) assert.equal(await pageMessage(host), "Before");
      const releasesOf = async (host: TestHost) => {
        const r = await djaploy(project, ["releases", "--env", "test", "--hosts", host.name]);
        ok(r, `releases on ${host.name}`);
        return r.stdout;
      };
      const untouched = [await releasesOf(web2), await releasesOf(web3)];

      // A release whose health view fails: the canary refuses it, nobody else gets it.
      await project.write(
        "pages/views.py",
        VIEWS.replace(
          "def health(request):\n",
          'def health(request):\n    raise RuntimeError("the health view fails on purpose")\n',
        ),
      );
      await project.write("pages/message.txt", "Broken\n");
      await project.commit("Broken health check");
      const broken = await djaploy(project, ["deploy", "--env", "test", "--json"]);
      assert.equal(broken.code, 1, broken.output);
      const events = broken.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
      const hostEvents = Object.fromEntries(
        events.filter((e) => e.event === "host").map((e) => [e.host, [e.status, e.canary]]),
      );
      assert.deepEqual(hostEvents, {
        "web-1": ["failed", true],
        "web-2": ["not_started", undefined],
        "web-3": ["not_started", undefined],
      });
      assert.ok(
        !events.some((e) => e.event === "step" && e.host !== "web-1"),
        "no step ran on web-2 or web-3",
      );
      const summary = events.at(-1);
      assert.deepEqual(summary.canary, ["web-1"]);
      assert.deepEqual(summary.rollout, {
        new: [],
        failed: ["web-1"],
        not_started: ["web-2", "web-3"],
      });
      assert.match(broken.stderr, /the health check failed: GET \/health\/ .* answered HTTP 500/);
      assert.match(
        broken.stderr,
        /^canary web-1: failed \(web-1\), the other hosts were not started$/m,
      );
      assert.match(broken.stderr, /^not started, still on the previous release: web-2, web-3$/m);
      for (const host of hosts) assert.equal(await pageMessage(host), "Before");
      assert.deepEqual(
        [await releasesOf(web2), await releasesOf(web3)],
        untouched,
        "web-2 and web-3 got no new release",
      );

      // Fixed: --retry-failed deploys the canary first, alone, then the other two.
      await project.write("pages/views.py", VIEWS);
      await project.write("pages/message.txt", "Fixed\n");
      await project.commit("Fixed");
      const fixed = await djaploy(project, ["deploy", "--env", "test", "--retry-failed"]);
      ok(fixed, "deploy --retry-failed of the fix");
      assert.match(fixed.output, /^retrying web-1, web-2, web-3: /m);
      assert.match(fixed.output, /^canary: web-1\n/m);
      // Everything web-1 did (its health-checked start and the switch) came before the others began.
      const [canaryPart, rest] = fixed.output.split(/^batch: web-2, web-3\n/m);
      assert.ok(rest !== undefined, fixed.output);
      assert.match(canaryPart, /^web-1 +\S+ +start new release/m);
      assert.match(canaryPart, /^web-1 +\S+ +switch traffic/m);
      assert.doesNotMatch(canaryPart, /^web-[23] /m);
      assert.match(fixed.output, /^batch: web-2, web-3$/m);
      assert.match(fixed.output, /^canary web-1: ok, then the other hosts$/m);
      for (const host of hosts) assert.equal(await pageMessage(host), "Fixed");
    });
  },
);
