import assert from "node:assert/strict";
import { printSummary, runOnHosts } from "../lib/runner.ts";
import { RecordingExecutor } from "../lib/recording_executor.ts";
import { UserError } from "../lib/errors.ts";
import type { Step, StepContext } from "../lib/module.ts";
import { InterruptController, StoppedError } from "../lib/interrupt.ts";
import { collectingUi, loadTestProject, withTempDir } from "./helpers/fixtures.ts";

const INVENTORY = ["web-1", "web-2", "web-3", "web-4"]
  .map((n, i) => `[[hosts]]\nname = "${n}"\nssh_hostname = "10.0.0.${i + 1}"\n`).join("\n");

/** Runs one step on four hosts in batches of two; the step fails on `failOn`. */
async function rollout(failOn: string | undefined) {
  return await withTempDir(async (dir) => {
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    const { ui, out } = collectingUi();
    const ran: string[] = [];
    const step: Step = {
      name: "go live",
      run(ctx) {
        ran.push(ctx.host.name);
        if (ctx.host.name === failOn) throw new UserError("the new release did not answer");
        return Promise.resolve();
      },
    };
    const results = await runOnHosts({
      ui,
      project,
      env,
      hosts: env.hosts,
      parallel: 4,
      dryRun: false,
      signal: new AbortController().signal,
      executor: (h) => new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
      plan: () => ({ steps: [step], probes: [], files: [], packages: [] }),
      appEnv: () => new Map(),
      deployFiles: new Set(),
      batchSize: 2,
    });
    return { results, ran, out: out.join("") };
  });
}

Deno.test("runner: batches run one after the other", async () => {
  const { results, ran, out } = await rollout(undefined);
  assert.deepEqual(results.map((r) => r.ok), [true, true, true, true]);
  assert.deepEqual(ran, ["web-1", "web-2", "web-3", "web-4"]);
  assert.match(out, /batch: web-1, web-2\n[\s\S]*batch: web-3, web-4\n/);
});

Deno.test("runner: a failed batch stops the rollout; the summary says which hosts were not started", async () => {
  const { results, ran } = await rollout("web-2");
  assert.deepEqual(ran, ["web-1", "web-2"], "no host of the next batch was touched");
  assert.deepEqual(
    results.map((r) => [r.host, r.ok, r.failedStep]),
    [
      ["web-1", true, undefined],
      ["web-2", false, "go live"],
      ["web-3", false, "not started (an earlier batch failed)"],
      ["web-4", false, "not started (an earlier batch failed)"],
    ],
  );
});

Deno.test("runner: a signal during a step lets it finish, starts no other step and no later batch", async () => {
  await withTempDir(async (dir) => {
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    const { ui } = collectingUi();
    const interrupt = new InterruptController();
    const ran: string[] = [];
    const step = (name: string, during?: () => void): Step => ({
      name,
      async run(ctx) {
        ran.push(`${ctx.host.name} ${name}`);
        during?.();
        // Still running when the signal came: it ends as it would have.
        await new Promise((r) => setTimeout(r, 20));
        ran.push(`${ctx.host.name} ${name} done`);
      },
    });
    // One SIGTERM, while both hosts of the first batch run their first step.
    const steps = [
      step("upload", () => interrupt.received || interrupt.signal("SIGTERM")),
      {
        ...step("switch"),
        // What the history wrapper does with it: record, change nothing.
        notStarted: (ctx: StepContext, reason: unknown) => {
          ran.push(`${ctx.host.name} switch not started: ${(reason as Error).message}`);
          return Promise.resolve();
        },
      },
    ];
    const results = await runOnHosts({
      ui,
      project,
      env,
      hosts: env.hosts,
      parallel: 4,
      dryRun: false,
      signal: interrupt.force,
      stop: interrupt.stop,
      executor: (h) => new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
      plan: () => ({ steps, probes: [], files: [], packages: [] }),
      appEnv: () => new Map(),
      deployFiles: new Set(),
      batchSize: 2,
    });
    assert.deepEqual(ran, [
      "web-1 upload",
      "web-2 upload",
      "web-1 upload done",
      'web-1 switch not started: Stopped before "switch": djaploy received SIGTERM',
      "web-2 upload done",
      'web-2 switch not started: Stopped before "switch": djaploy received SIGTERM',
    ]);
    assert.deepEqual(results.map((r) => [r.host, r.failedStep]), [
      ["web-1", "stopped before switch"],
      ["web-2", "stopped before switch"],
      ["web-3", "stopped before starting"],
      ["web-4", "stopped before starting"],
    ]);
    const error = results[0].error;
    assert.ok(error instanceof StoppedError);
    assert.equal(error.exitCode, 143);
    assert.equal(error.message, 'Stopped before "switch": djaploy received SIGTERM');
    assert.equal(interrupt.force.aborted, false, "one signal does not end running commands");
    interrupt.signal("SIGINT");
    assert.equal(interrupt.force.aborted, true);
    assert.equal(interrupt.received, "SIGTERM", "the first signal decides the exit code");
  });
});

Deno.test("runner: a failed step shows how long it ran, not 0ms", async () => {
  await withTempDir(async (dir) => {
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    const { ui, out } = collectingUi();
    const step: Step = {
      name: "health check",
      async run() {
        await new Promise((r) => setTimeout(r, 150));
        throw new UserError("the new release answered HTTP 400");
      },
    };
    const [result] = await runOnHosts({
      ui,
      project,
      env,
      hosts: env.hosts.slice(0, 1),
      parallel: 1,
      dryRun: false,
      signal: new AbortController().signal,
      executor: (h) => new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
      plan: () => ({ steps: [step], probes: [], files: [], packages: [] }),
      appEnv: () => new Map(),
      deployFiles: new Set(),
    });
    const failed = result.steps.find((s) => s.error);
    assert.ok(failed && failed.ms >= 140, `the failed step's time: ${failed?.ms}`);
    const line = out.join("").split("\n").find((l) => l.includes("FAILED"))!;
    assert.match(line, /health check .* 1\d\dms$/);
  });
});

Deno.test("runner: --json events: one JSON object a line per step and host, then the summary", async () => {
  await withTempDir(async (dir) => {
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', INVENTORY);
    const { ui: plain, out, err } = collectingUi();
    const ui = plain.withEvents();
    const step: Step = {
      name: "go live",
      run(ctx) {
        if (ctx.host.name === "web-2") throw new UserError("the new release did not answer");
        ctx.changed("release 7");
        return Promise.resolve();
      },
    };
    const results = await runOnHosts({
      ui,
      project,
      env,
      hosts: env.hosts,
      parallel: 4,
      dryRun: false,
      signal: new AbortController().signal,
      executor: (h) => new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
      plan: () => ({ steps: [step], probes: [], files: [], packages: [] }),
      appEnv: () => new Map(),
      deployFiles: new Set(),
      batchSize: 2,
    });
    printSummary(ui, results, "deploy");
    const text = out.join("");
    const events = text.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.ok(events.every((e) => typeof e.ms === "number" || e.event === "summary"));
    // Hosts of a batch run at once: each host's events in order, the summary last.
    const of = (host: string) =>
      events.filter((e) => e.host === host).map((e) => [e.event, e.step, e.status]);
    assert.deepEqual(of("web-1"), [
      ["step", "connect and read state", "ok"],
      ["step", "go live", "changed"],
      ["host", undefined, "ok"],
    ]);
    assert.deepEqual(of("web-2"), [
      ["step", "connect and read state", "ok"],
      ["step", "go live", "failed"],
      ["host", "go live", "failed"],
    ]);
    for (const host of ["web-3", "web-4"]) {
      assert.deepEqual(of(host), [[
        "host",
        "not started (an earlier batch failed)",
        "not_started",
      ]]);
    }
    assert.deepEqual(events.at(-1), {
      event: "summary",
      title: "deploy",
      ok: false,
      hosts: { "web-1": "ok", "web-2": "failed", "web-3": "not_started", "web-4": "not_started" },
    });
    assert.equal(events.length, 9);
    const failed = events.find((e) => e.host === "web-2" && e.status === "failed");
    assert.equal(failed.detail, "the new release did not answer");
    // The lines for people went to stderr.
    assert.match(err.join(""), /web-2 +FAILED +go live/);
  });
});

/** One step on six hosts in batches of two; it fails on the hosts named. */
async function rolloutWith(failOn: readonly string[], maxFail: number) {
  return await withTempDir(async (dir) => {
    const inventory = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"]
      .map((n, i) => `[[hosts]]\nname = "${n}"\nssh_hostname = "10.0.0.${i + 1}"\n`).join("\n");
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', inventory);
    const { ui, out, err } = collectingUi();
    const ran: string[] = [];
    const step: Step = {
      name: "go live",
      run(ctx) {
        ran.push(ctx.host.name);
        if (failOn.includes(ctx.host.name)) throw new UserError("the new release did not answer");
        return Promise.resolve();
      },
    };
    const results = await runOnHosts({
      ui,
      project,
      env,
      hosts: env.hosts,
      parallel: 6,
      dryRun: false,
      signal: new AbortController().signal,
      executor: (h) => new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
      plan: () => ({ steps: [step], probes: [], files: [], packages: [] }),
      appEnv: () => new Map(),
      deployFiles: new Set(),
      batchSize: 2,
      maxFail,
    });
    printSummary(ui, results, "deploy", "20261202-abc1234");
    return { results, ran: ran.sort(), out: out.join(""), err: err.join("") };
  });
}

Deno.test("runner: max_fail lets the rollout go on while no more hosts than it allows failed", async () => {
  const { ran, results, out } = await rolloutWith(["web-2"], 1);
  assert.deepEqual(ran, ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"]);
  assert.deepEqual(results.map((r) => r.ok), [true, false, true, true, true, true]);
  assert.match(out, /^new release 20261202-abc1234: web-1, web-3, web-4, web-5, web-6$/m);
  assert.match(out, /^failed, on the previous or the new release .*: web-2$/m);
  assert.doesNotMatch(out, /not started/);
});

Deno.test("runner: more failed hosts than max_fail stop the rollout; the summary says who runs what", async () => {
  const { ran, results, out, err } = await rolloutWith(["web-2", "web-3"], 1);
  assert.deepEqual(ran, ["web-1", "web-2", "web-3", "web-4"], "the third batch never started");
  assert.deepEqual(
    results.map((r) => [r.host, r.ok, r.failedStep]),
    [
      ["web-1", true, undefined],
      ["web-2", false, "go live"],
      ["web-3", false, "go live"],
      ["web-4", true, undefined],
      ["web-5", false, "not started (an earlier batch failed)"],
      ["web-6", false, "not started (an earlier batch failed)"],
    ],
  );
  assert.match(out, /^new release 20261202-abc1234: web-1, web-4$/m);
  assert.match(out, /^failed, on the previous or the new release .*: web-2, web-3$/m);
  assert.match(out, /^not started, still on the previous release: web-5, web-6$/m);
  assert.match(
    err,
    /web-5: not started .*: Not deployed: 2 hosts of earlier batches failed, more than max_fail allows/,
  );
});

Deno.test("runner: with max_fail 0 the first failed batch stops the rollout", async () => {
  const { ran } = await rolloutWith(["web-1"], 0);
  assert.deepEqual(ran, ["web-1", "web-2"]);
});

Deno.test("runner: the summary table shows a host the rollout never reached as not started", async () => {
  const { out, err } = await rolloutWith(["web-1"], 0);
  assert.match(out, /^web-3 +not started \(an earlier batch failed\) +0 steps/m);
  assert.match(out, /^web-1 +failed at go live +0 steps/m);
  assert.match(
    err,
    /hint: Fix the failed hosts, then finish the rollout with: djaploy deploy --env test --retry-failed/,
  );
});
