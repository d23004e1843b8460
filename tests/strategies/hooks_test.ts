/**
 * Hooks and the release command on recorded hosts: the order in which they
 * run among a deploy's commands, and what a failure before and after the
 * switch does (docs/hooks.md).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/engine/module_api.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import { hookRun, type LocalRunner } from "../../lib/engine/hooks.ts";
import { runOnHosts } from "../../lib/engine/runner.ts";
import { RecordingExecutor } from "../../lib/exec/recording_executor.ts";
import {
  collectingUi,
  factsAnswer,
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  loadTestProject,
  withTempDir,
  writeFiles,
} from "../helpers/fixtures.ts";
import { configuredHostAnswers, deployPlan, newRelease, runRecorded } from "../helpers/plans.ts";

const HOOKS = ["before_migrate", "after_migrate", "before_switch", "after_switch"]
  .map((p) =>
    `[[hooks.${p}]]\nrun = "echo R-${p}"\n\n` +
    `[[hooks.${p}]]\nrun = "echo L-${p}"\non = "local"\n\n` +
    `[[hooks.${p}]]\nrun = "echo ROOT-${p}"\nuser = "root"\n`
  ).join("\n");

function toml(strategy: string, extra = ""): string {
  return `project_name = "hello"\ndeployment_strategy = "${strategy}"\n\n` +
    `[release]\ncommand = "echo RELEASE"\n\n${HOOKS}\n${extra}`;
}

async function release(dir: string): Promise<ReleaseInfo> {
  const artifactDir = join(dir, "artifact");
  await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
  return newRelease(artifactDir);
}

/** What a recorded command is, for the timeline: a hook, migrate, the release command, the switch. */
function label(cmd: RemoteCommand): string | undefined {
  const text = cmd.argv.join(" ");
  const hook = /echo ((?:R|ROOT)-\w+)/.exec(text)?.[1];
  if (hook) return hook;
  if (text.includes("echo RELEASE")) return "release";
  if (text.includes("MIGRATE = ")) return "migrate";
  if (text.includes("/run/djaploy/hello.sock")) return "switch";
  if (/^systemctl restart hello(\.service)?( |$)/.test(text)) return "restart";
  if (text.includes("/run/hello/hello.sock")) return "health check";
  return undefined;
}

function timeline(): {
  events: string[];
  respond: (fail?: string) => (cmd: RemoteCommand) => { code: number } | undefined;
  local: LocalRunner;
} {
  const events: string[] = [];
  return {
    events,
    respond: (fail) => (cmd) => {
      const l = label(cmd);
      if (l) events.push(l);
      return fail && l === fail ? { code: 3 } : undefined;
    },
    local: (run) => {
      events.push(run.replace(/^echo /, ""));
      return Promise.resolve({ code: run.includes("FAIL") ? 1 : 0, stdout: "", stderr: "" });
    },
  };
}

function hooksFor(loaded: LoadedProject, local: LocalRunner, dryRun = false) {
  const { ui, out, err } = collectingUi();
  const hooks = hookRun({
    command: "deploy",
    ui,
    dryRun,
    project: loaded.project,
    envName: loaded.env.name,
    local,
  });
  return { hooks, out, err };
}

const ORDER = [
  "R-before_migrate",
  "ROOT-before_migrate",
  "migrate",
  "R-after_migrate",
  "ROOT-after_migrate",
  "release",
  "R-before_switch",
  "ROOT-before_switch",
  "switch",
  "R-after_switch",
  "ROOT-after_switch",
];

/** The order with the local hooks, which run before the remote ones of the same point. */
function withLocal(order: readonly string[]): string[] {
  return order.flatMap((e) => e.startsWith("R-") ? [`L-${e.slice(2)}`, e] : [e]);
}

for (const strategy of ["zero_downtime", "bluegreen"]) {
  Deno.test(`hooks (${strategy}): migrate, release command and switch hooks run in order, local and remote`, async () => {
    await withTempDir(async (dir) => {
      const loaded = await loadTestProject(dir, toml(strategy));
      const t = timeline();
      const { hooks } = hooksFor(loaded, t.local);
      const r = await runRecorded({
        loaded,
        plan: await deployPlan(loaded.host, loaded.project.repo_dir),
        facts: factsStdout(await configuredHostAnswers(loaded)),
        release: await release(dir),
        respond: t.respond(),
        hooks,
      });
      assert.equal(r.result.ok, true, String(r.result.error));
      // Each point's hooks come where the point is, migrate's around migrate, switch's around it.
      assert.deepEqual(t.events, withLocal(ORDER));
      const lines = r.exec.lines();
      const root = lines.find((l) => l.includes("echo ROOT-before_switch"))!;
      assert.match(root, /^sudo -n -H -- env -C \/ DJAPLOY_HOOK=before_switch /, root);
      assert.ok(!root.includes("/etc/djaploy/apps/hello/run"), "root hooks get no app env");
      const app = lines.find((l) => l.includes("echo R-after_switch"))!;
      assert.match(
        app,
        /^sudo -n -H -u app -- env -C \/home\/app\/apps\/hello DJAPLOY_HOOK=after_switch .*\/etc\/djaploy\/apps\/hello\/run sh -c /,
        app,
      );
      const rel = lines.find((l) => l.includes("echo RELEASE"))!;
      assert.match(
        rel,
        /^sudo -n -H -u app -- env -C \/home\/app\/apps\/hello\/(releases|slots)\//,
      );
      assert.match(
        rel,
        /\/etc\/djaploy\/apps\/hello\/run env PATH=\/home\/app\/apps\/hello\/shared\/venv-/,
      );
    });
  });
}

Deno.test("hooks (in_place): traffic moves with the restart: before_switch before it, after_switch once the app answers", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("in_place"));
    const t = timeline();
    const { hooks } = hooksFor(loaded, t.local);
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: await release(dir),
      respond: t.respond(),
      hooks,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const order = withLocal(ORDER);
    order.splice(order.indexOf("switch"), 1, "restart", "health check");
    assert.deepEqual(t.events, order);
  });
});

/** A zero_downtime deploy on a configured host whose command `failing` (a hook's echo) exits 3. */
async function zeroDowntimeFailingAt(dir: string, failing: string) {
  const loaded = await loadTestProject(dir, toml("zero_downtime"));
  const t = timeline();
  const { hooks, err } = hooksFor(loaded, t.local);
  const r = await runRecorded({
    loaded,
    plan: await deployPlan(loaded.host, loaded.project.repo_dir),
    facts: factsStdout(await configuredHostAnswers(loaded)),
    release: await release(dir),
    respond: t.respond(failing),
    hooks,
  });
  return { r, t, hooks, err };
}

Deno.test("hooks: a failing before_switch hook stops the deploy before traffic moves, nothing recorded as live", async () => {
  await withTempDir(async (dir) => {
    const { r, t } = await zeroDowntimeFailingAt(dir, "R-before_switch");
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "switch traffic");
    assert.match(String(r.result.error), /Fix the before_switch hook "echo R-before_switch"/);
    assert.match(String(r.result.error), /the old release serves/);
    assert.ok(!t.events.includes("switch"), t.events.join(", "));
    assert.ok(
      !t.events.includes("ROOT-before_switch"),
      "the hooks after the failed one do not run",
    );
    const lines = r.exec.lines().join("\n");
    assert.doesNotMatch(lines, /state\.json/, "state.json still names the old release");
    assert.doesNotMatch(lines, /\.djaploy-release\.json/);
  });
});

Deno.test("hooks: a failing after_switch hook is reported, the switch stands and later hooks still run", async () => {
  await withTempDir(async (dir) => {
    const { r, t, hooks, err } = await zeroDowntimeFailingAt(dir, "R-after_switch");
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.ok(t.events.includes("switch"));
    assert.ok(t.events.includes("ROOT-after_switch"), "the next hook of the point still runs");
    assert.match(r.exec.lines().join("\n"), /state\.json/, "the new release is recorded live");
    assert.equal(hooks.failures.length, 1);
    assert.equal(hooks.failures[0].point, "after_switch");
    assert.match(
      err.join(""),
      /warning: the after_switch hook "echo R-after_switch" failed on web1 with exit code 3/,
    );
  });
});

Deno.test("hooks: a failing after_migrate hook stops the deploy before the release command and the switch", async () => {
  await withTempDir(async (dir) => {
    const { r, t } = await zeroDowntimeFailingAt(dir, "ROOT-after_migrate");
    assert.equal(r.result.ok, false);
    assert.deepEqual(t.events, withLocal(ORDER.slice(0, 5)));
  });
});

Deno.test("hooks: --dry-run records remote hooks (a real run would send them) and runs no local one", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("zero_downtime"));
    const t = timeline();
    const { hooks, out } = hooksFor(loaded, t.local, true);
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: await release(dir),
      hooks,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(t.events, [], "no local hook ran");
    assert.match(out.join(""), /hook before_migrate: would run here: echo L-before_migrate/);
    assert.match(r.exec.lines().join("\n"), /echo ROOT-after_switch/);
  });
});

/** Two hosts deployed at once, as `djaploy deploy` runs them when a release command is set. */
async function twoHosts(dir: string, respond: (host: string, cmd: RemoteCommand) => number) {
  const loaded = await loadTestProject(
    dir,
    toml("zero_downtime"),
    '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n\n' +
      '[[hosts]]\nname = "web2"\nssh_hostname = "10.0.0.2"\n',
  );
  const { ui } = collectingUi();
  const execs = new Map<string, RecordingExecutor>();
  const facts = new Map<string, string>();
  for (const host of loaded.env.hosts) {
    facts.set(host.name, factsStdout(await configuredHostAnswers({ ...loaded, host })));
  }
  const plans = new Map();
  for (const host of loaded.env.hosts) {
    plans.set(host.name, await deployPlan(host, loaded.project.repo_dir, "web1"));
  }
  const results = await runOnHosts({
    ui,
    project: loaded.project,
    env: loaded.env,
    hosts: loaded.env.hosts,
    parallel: 2,
    together: true,
    dryRun: false,
    signal: new AbortController().signal,
    release: await release(dir),
    executor: (h) => {
      const exec = new RecordingExecutor({
        host: h.name,
        sshUser: h.ssh_user,
        respond: (cmd) =>
          isFactsCommand(cmd)
            ? factsAnswer(cmd, facts.get(h.name)!)
            : { code: respond(h.name, cmd) },
      });
      execs.set(h.name, exec);
      return exec;
    },
    plan: (h) => plans.get(h.name),
    appEnv: () => new Map(),
    deployFiles: new Set(),
  });
  return { results, execs };
}

Deno.test("release command: runs once, on the first host, and the others wait for it before switching", async () => {
  await withTempDir(async (dir) => {
    const order: string[] = [];
    const { results, execs } = await twoHosts(dir, (host, cmd) => {
      const l = label(cmd);
      if (l === "release" || l === "switch") order.push(`${host} ${l}`);
      return 0;
    });
    assert.deepEqual(results.map((r) => r.ok), [true, true], String(results[1].error));
    const runs = (h: string) =>
      execs.get(h)!.lines().filter((l) => l.includes("echo RELEASE")).length;
    assert.equal(runs("web1"), 1);
    assert.equal(runs("web2"), 0);
    assert.equal(order[0], "web1 release", order.join(", "));
    assert.deepEqual(order.slice(1).sort(), ["web1 switch", "web2 switch"]);
  });
});

Deno.test("release command: a failure stops the deploy on every host before any switch", async () => {
  await withTempDir(async (dir) => {
    const { results, execs } = await twoHosts(
      dir,
      (_host, cmd) => label(cmd) === "release" ? 1 : 0,
    );
    assert.deepEqual(results.map((r) => r.ok), [false, false]);
    assert.match(
      String(results[0].error),
      /Fix the release command "echo RELEASE": it exited with code 1/,
    );
    assert.match(String(results[0].error), /the old\s+release serves/);
    assert.match(String(results[1].error), /Not going past "release command": web1 failed/);
    for (const exec of execs.values()) {
      const lines = exec.lines().join("\n");
      assert.doesNotMatch(lines, /\/run\/djaploy\/hello\.sock/, "no traffic moved");
      assert.doesNotMatch(lines, /state\.json/, "the records still name the old release");
    }
  });
});
