import assert from "node:assert/strict";
import { join } from "node:path";
import { hostsToRetry, lastRunPath, readLastRun, recordRun } from "../lib/engine/last_run.ts";
import { retryFailedFlags } from "../lib/commands/deploy.ts";
import type { HostResult } from "../lib/engine/runner.ts";
import { UsageError, UserError } from "../lib/errors.ts";
import { main } from "../cli.ts";
import { collectingUi, loadTestProject, withTempDir } from "./helpers/fixtures.ts";

const INVENTORY = ["web1", "web2", "web3", "web4"]
  .map((n, i) => `[[hosts]]\nname = "${n}"\nssh_hostname = "10.0.0.${i + 1}"\n`).join("\n");

function result(host: string, ok: boolean, failedStep?: string): HostResult {
  return {
    host,
    ok,
    failedStep,
    steps: ok || !failedStep?.startsWith("migrate")
      ? []
      : [{ name: "migrate", ms: 5, changes: [] }],
    ms: ok || failedStep === "migrate" ? 10 : 0,
    stats: { commands: 0, syncs: 0, connections: 0, bytesSent: 0 },
  };
}

const PARTIAL = [
  result("web1", true),
  result("web2", false, "migrate"),
  result("web3", true),
  result("web4", false, "not started (an earlier batch failed)"),
];

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal: false,
  });
  return { code, out: out.join(""), err: err.join("") };
}

Deno.test("last run: a deploy's results are kept per host; a later run updates only its hosts", async () => {
  await withTempDir(async (dir) => {
    const { project } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    assert.equal(await readLastRun(project, "test"), undefined);
    await recordRun(project, "test", PARTIAL, "r1");
    assert.equal(lastRunPath(project, "test"), join(dir, ".djaploy", "last-run", "test.json"));
    // The folder is ignored by git whatever the project's .gitignore says.
    assert.equal(await Deno.readTextFile(join(dir, ".djaploy", ".gitignore")), "*\n");
    const first = (await readLastRun(project, "test"))!;
    assert.deepEqual(
      Object.entries(first.hosts).map(([h, r]) => [h, r.status, r.release]),
      [["web1", "ok", "r1"], ["web2", "failed", "r1"], ["web3", "ok", "r1"], [
        "web4",
        "not_started",
        "r1",
      ]],
    );
    assert.deepEqual(hostsToRetry(first, ["web1", "web2", "web3", "web4"]), ["web2", "web4"]);
    // A host no longer in the inventory is not retried.
    assert.deepEqual(hostsToRetry(first, ["web1", "web2"]), ["web2"]);

    await recordRun(project, "test", [result("web2", true), result("web4", true)], "r2");
    const second = (await readLastRun(project, "test"))!;
    assert.deepEqual(hostsToRetry(second, ["web1", "web2", "web3", "web4"]), []);
    assert.equal(second.hosts.web1.release, "r1");
    assert.equal(second.hosts.web2.release, "r2");
    // Another environment has its own record.
    assert.equal(await readLastRun(project, "production"), undefined);
  });
});

Deno.test("last run: a record djaploy cannot read says to delete it", async () => {
  await withTempDir(async (dir) => {
    const { project } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    await Deno.mkdir(join(dir, ".djaploy", "last-run"), { recursive: true });
    for (const text of ["{not json", '{"env":"test","hosts":{"web1":{"status":"great"}}}']) {
      await Deno.writeTextFile(lastRunPath(project, "test"), text);
      await assert.rejects(
        () => readLastRun(project, "test"),
        (e) =>
          e instanceof UserError && e.message.startsWith(`Delete ${lastRunPath(project, "test")}`),
      );
    }
  });
});

Deno.test("deploy --retry-failed: selects the hosts that failed or were not started", async () => {
  await withTempDir(async (dir) => {
    const { project } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    await recordRun(project, "test", PARTIAL, "r1");
    const { ui, out } = collectingUi();
    const config = join(dir, "infra", "djaploy.toml");
    const flags = await retryFailedFlags(ui, { env: "test", config, "retry-failed": true });
    assert.equal(flags?.hosts, "web2,web4");
    assert.match(out.join(""), /^retrying web2, web4: failed, stopped or not started/m);
    await assert.rejects(
      () => retryFailedFlags(ui, { env: "test", config, hosts: "web1" }),
      (e) => e instanceof UsageError && /Choose one of --hosts and --retry-failed/.test(e.message),
    );
  });
});

Deno.test("cli: deploy --retry-failed without a record is a usage error (exit 2); with nothing failed it does nothing", async () => {
  await withTempDir(async (dir) => {
    const { project } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    const config = join(dir, "infra", "djaploy.toml");
    const none = await cli(["deploy", "--env", "test", "--config", config, "--retry-failed"]);
    assert.equal(none.code, 2);
    assert.match(
      none.err,
      /^error: Deploy to test first: --retry-failed deploys to the hosts that failed in the last deploy, and this machine has no record of one \(.*last-run\/test\.json\)\nhint: Name the hosts instead: djaploy deploy --env test --hosts A,B\n$/,
    );
    await recordRun(project, "test", PARTIAL.map((r) => result(r.host, true)), "r1");
    const done = await cli(["deploy", "--env", "test", "--config", config, "--retry-failed"]);
    assert.equal(done.code, 0);
    assert.equal(
      done.out,
      "Nothing to retry: every host of test succeeded in the last deploy it was in\n",
    );
  });
});
