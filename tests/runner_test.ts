import assert from "node:assert/strict";
import {
  hostStatus,
  printSummary,
  rolloutBatches,
  runOnHosts,
  type RunOptions,
} from "../lib/engine/runner.ts";
import { hostsToRetry } from "../lib/engine/last_run.ts";
import { RecordingExecutor } from "../lib/exec/recording_executor.ts";
import { UserError } from "../lib/errors.ts";
import type { Step, StepContext } from "../lib/engine/module_api.ts";
import { InterruptController, StoppedError } from "../lib/cli/interrupt.ts";
import { collectingUi, loadTestProject, withTempDir } from "./helpers/fixtures.ts";

/** runOnHosts on recorded hosts of `env`, each running `steps`; `o` adds or overrides options. */
function recordedRun(
  base: Pick<RunOptions, "ui" | "project" | "env">,
  steps: readonly Step[],
  o: Partial<RunOptions> = {},
) {
  return runOnHosts({
    ...base,
    hosts: base.env.hosts,
    parallel: base.env.hosts.length,
    dryRun: false,
    signal: new AbortController().signal,
    executor: (h) => new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
    plan: () => ({ steps, probes: [], files: [], packages: [] }),
    appEnv: () => new Map(),
    deployFiles: new Set(),
    ...o,
  });
}

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
    const results = await recordedRun({ ui, project, env }, [step], {
      parallel: 4,
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
    const results = await recordedRun({ ui, project, env }, steps, {
      parallel: 4,
      signal: interrupt.force,
      stop: interrupt.stop,
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
    const [result] = await recordedRun({ ui, project, env }, [step], {
      hosts: env.hosts.slice(0, 1),
      parallel: 1,
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
    const results = await recordedRun({ ui, project, env }, [step], {
      parallel: 4,
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
    const results = await recordedRun({ ui, project, env }, [step], {
      parallel: 6,
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

interface FleetRun {
  readonly failOn?: readonly string[];
  /** How long each host's step takes, ms (default 0). */
  readonly delay?: Readonly<Record<string, number>>;
  readonly parallel?: number;
  readonly batchSize?: number;
  readonly maxFail?: number;
  readonly canary?: number;
  readonly json?: boolean;
}

/** One step on six hosts; it logs when each host starts and ends it, and fails on `failOn`. */
async function fleet(o: FleetRun) {
  return await withTempDir(async (dir) => {
    const inventory = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"]
      .map((n, i) => `[[hosts]]\nname = "${n}"\nssh_hostname = "10.0.0.${i + 1}"\n`).join("\n");
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', inventory);
    const collected = collectingUi();
    const ui = o.json ? collected.ui.withEvents() : collected.ui;
    const log: string[] = [];
    const step: Step = {
      name: "start and health-check",
      async run(ctx) {
        const host = ctx.host.name;
        log.push(`${host} start`);
        await new Promise((r) => setTimeout(r, o.delay?.[host] ?? 0));
        log.push(`${host} end`);
        if (o.failOn?.includes(host)) throw new UserError("the new release did not answer");
      },
    };
    const results = await recordedRun({ ui, project, env }, [step], {
      parallel: o.parallel ?? 6,
      batchSize: o.batchSize,
      maxFail: o.maxFail,
      canary: o.canary,
    });
    printSummary(ui, results, "deploy", "20261202-abc1234");
    const started = log.filter((l) => l.endsWith(" start")).map((l) => l.split(" ")[0]);
    return {
      results,
      log,
      started,
      status: results.map((r) => [r.host, hostStatus(r), r.failedStep]),
      out: collected.out.join(""),
      err: collected.err.join(""),
    };
  });
}

Deno.test("runner: canary: the first host deploys and passes its health check before any other starts", async () => {
  const { log, results, out } = await fleet({ canary: 1, delay: { "web-1": 30 } });
  assert.deepEqual(log.slice(0, 2), ["web-1 start", "web-1 end"]);
  assert.equal(log.length, 12);
  assert.ok(results.every((r) => r.ok));
  assert.deepEqual(results.map((r) => Boolean(r.canary)), [
    true,
    false,
    false,
    false,
    false,
    false,
  ]);
  assert.match(out, /canary: web-1\n[\s\S]*batch: web-2, web-3, web-4, web-5, web-6\n/);
  assert.match(out, /^canary web-1: ok, then the other hosts$/m);
});

Deno.test("runner: a failed canary stops the rollout, whatever max_fail allows; the rest is untouched", async () => {
  const { started, status, out, err } = await fleet({
    canary: 2,
    failOn: ["web-2"],
    maxFail: 5,
  });
  assert.deepEqual(started, ["web-1", "web-2"], "no other host was touched");
  assert.deepEqual(status, [
    ["web-1", "ok", undefined],
    ["web-2", "failed", "start and health-check"],
    ["web-3", "not_started", "not started (the canary failed)"],
    ["web-4", "not_started", "not started (the canary failed)"],
    ["web-5", "not_started", "not started (the canary failed)"],
    ["web-6", "not_started", "not started (the canary failed)"],
  ]);
  assert.match(out, /^canary web-1, web-2: failed \(web-2\), the other hosts were not started$/m);
  assert.match(out, /^new release 20261202-abc1234: web-1$/m);
  assert.match(out, /^failed, on the previous or the new release .*: web-2$/m);
  assert.match(out, /^not started, still on the previous release: web-3, web-4, web-5, web-6$/m);
  assert.match(
    err,
    /web-3: not started \(the canary failed\): Not deployed: the canary \(web-2\) failed, so the rollout stopped before the other hosts\n {2}hint: Fix the failed hosts, then finish the rollout with: djaploy deploy --env test --retry-failed/,
  );
});

Deno.test("runner: canary, then batches: the canary is its own batch, then batch_size at a time", async () => {
  const { out, started, results } = await fleet({ canary: 1, batchSize: 2, failOn: ["web-3"] });
  assert.match(out, /canary: web-1\n[\s\S]*batch: web-2, web-3\n/);
  assert.deepEqual(started.sort(), ["web-1", "web-2", "web-3"], "max_fail 0 stops after web-3");
  assert.deepEqual(results.map((r) => hostStatus(r)), [
    "ok",
    "ok",
    "failed",
    "not_started",
    "not_started",
    "not_started",
  ]);
  assert.match(results[3].failedStep!, /an earlier batch failed/);
});

Deno.test("runner: canary events: the host events and the summary name the canary", async () => {
  const { out } = await fleet({ canary: 1, failOn: ["web-1"], json: true });
  const events = out.trimEnd().split("\n").map((l) => JSON.parse(l));
  const host1 = events.find((e) => e.event === "host" && e.host === "web-1");
  assert.equal(host1.canary, true);
  assert.equal(host1.status, "failed");
  const summary = events.at(-1);
  assert.deepEqual(summary.canary, ["web-1"]);
  assert.deepEqual(summary.rollout.not_started, ["web-2", "web-3", "web-4", "web-5", "web-6"]);
});

Deno.test("runner: rolloutBatches: canary first, then batches; a canary of every host is one batch", () => {
  assert.deepEqual(rolloutBatches(6, 0, 0), [{ start: 0, count: 6 }]);
  assert.deepEqual(rolloutBatches(6, 0, 1), [{ start: 0, count: 1 }, { start: 1, count: 5 }]);
  assert.deepEqual(rolloutBatches(5, 2, 1), [
    { start: 0, count: 1 },
    { start: 1, count: 2 },
    { start: 3, count: 2 },
  ]);
  assert.deepEqual(rolloutBatches(3, 2, 0), [{ start: 0, count: 2 }, { start: 2, count: 1 }]);
  assert.deepEqual(rolloutBatches(2, 0, 2), [{ start: 0, count: 2 }]);
  assert.deepEqual(rolloutBatches(2, 0, 5), [{ start: 0, count: 2 }]);
});

Deno.test("runner: max_fail without batches: with --parallel 2, no host starts once too many failed", async () => {
  // web-1 fails at once; web-2 is still running and finishes; nobody else starts.
  const { started, status, err } = await fleet({
    parallel: 2,
    failOn: ["web-1"],
    delay: { "web-2": 30 },
  });
  assert.deepEqual(started, ["web-1", "web-2"]);
  assert.deepEqual(status, [
    ["web-1", "failed", "start and health-check"],
    ["web-2", "ok", undefined],
    ["web-3", "not_started", "not started (too many hosts failed)"],
    ["web-4", "not_started", "not started (too many hosts failed)"],
    ["web-5", "not_started", "not started (too many hosts failed)"],
    ["web-6", "not_started", "not started (too many hosts failed)"],
  ]);
  assert.match(
    err,
    /web-3: not started \(too many hosts failed\): Not deployed: 1 host failed, more than max_fail \(0\) allows, so no more hosts were started/,
  );
});

Deno.test("runner: max_fail without batches: hosts go on starting while no more than max_fail failed", async () => {
  // Two at a time: web-1 (fails, 1 of 1 allowed) frees its slot first, web-3 takes it; web-3 fails
  // (2 > 1) while web-2 still runs: web-4, web-5 and web-6 never start.
  const { started, status } = await fleet({
    parallel: 2,
    maxFail: 1,
    failOn: ["web-1", "web-3"],
    delay: { "web-1": 0, "web-2": 80, "web-3": 10 },
  });
  assert.deepEqual(started, ["web-1", "web-2", "web-3"]);
  assert.deepEqual(status.map(([h, s]) => `${h} ${s}`), [
    "web-1 failed",
    "web-2 ok",
    "web-3 failed",
    "web-4 not_started",
    "web-5 not_started",
    "web-6 not_started",
  ]);
  // The same with max_fail 2: every host runs.
  const tolerant = await fleet({ parallel: 2, maxFail: 2, failOn: ["web-1", "web-3"] });
  assert.equal(tolerant.started.length, 6);
});

Deno.test("runner: max_fail without batches: the hosts never started are the ones --retry-failed deploys", async () => {
  const { results } = await fleet({ parallel: 1, failOn: ["web-2"] });
  assert.deepEqual(
    hostsToRetry(
      {
        env: "test",
        hosts: Object.fromEntries(
          results.map((r) => [r.host, { status: hostStatus(r), at: "2026-12-02T07:00:00Z" }]),
        ),
      },
      ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"],
    ),
    ["web-2", "web-3", "web-4", "web-5", "web-6"],
  );
  assert.deepEqual(results.map((r) => r.steps.length), [1, 1, 0, 0, 0, 0], "web-3 on never ran");
});
