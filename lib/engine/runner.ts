/**
 * Runs a list of steps on every host of an environment: hosts in parallel
 * (bounded), steps in order, each shown as it finishes. One host failing
 * does not stop the others; the summary says which failed and where.
 */
import type { EnvironmentConfig, HostConfig, ProjectConfig } from "../config/types.ts";
import type { ExecResult, Executor, ExecutorStats } from "../exec/executor.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import { type FactProbe, type Facts, factsQuery, gatherFacts } from "../host/facts.ts";
import { layoutFor } from "../host/layout.ts";
import {
  DEPLOY_FILES_DIR,
  type ModuleDefinition,
  newRunId,
  newShared,
  type NoteValue,
  type ReleaseInfo,
  RUN_ID,
  type Step,
  type StepContext,
} from "./module_api.ts";
import { formatMs, table, type Ui, type UiEvent } from "../output/ui.ts";
import { packagesProbe } from "../host/probes.ts";
import { Limiter } from "../exec/limiter.ts";
import { CommandError, UserError } from "../errors.ts";
import type { Secret } from "../secrets/secret.ts";
import type { SecretResolver } from "../secrets/resolve.ts";
import {
  acquireLock,
  describeOwner,
  finishLock,
  type HeldLock,
  type LockOwner,
  runningUnderLock,
} from "../host/deploy_lock.ts";
import { Barrier } from "./barrier.ts";
import { RecordingExecutor } from "../exec/recording_executor.ts";
import { StoppedError, throwIfStopped } from "../cli/interrupt.ts";
import type { HookRun } from "./hooks.ts";

export interface StepResult {
  readonly name: string;
  readonly ms: number;
  readonly changes: readonly string[];
  readonly error?: unknown;
}

export interface HostResult {
  readonly host: string;
  readonly ok: boolean;
  readonly failedStep?: string;
  readonly error?: unknown;
  readonly steps: readonly StepResult[];
  readonly ms: number;
  readonly stats: ExecutorStats;
  /** What a dry run would have sent. */
  readonly recorded?: readonly string[];
  /** The host was in the canary batch (deployed and health-checked before the rest). */
  readonly canary?: boolean;
}

/** What a step came to, in the output and the `--json` events. */
export type StepStatus = "ok" | "changed" | "failed" | "stopped";

/** A host's outcome: a step's, or "not_started" for a host the rollout never reached. */
export type HostStatus = "ok" | "failed" | "stopped" | "not_started";

export function hostStatus(r: HostResult): HostStatus {
  if (r.ok) return "ok";
  if (r.failedStep?.startsWith("not started")) return "not_started";
  if (r.failedStep?.startsWith("stopped")) {
    return r.steps.length === 0 && r.ms === 0 ? "not_started" : "stopped";
  }
  return "failed";
}

function hostEvent(r: HostResult): UiEvent {
  const changed = r.steps.filter((s) => s.changes.length).map((s) => s.name);
  return {
    event: "host",
    host: r.host,
    status: hostStatus(r),
    ms: Math.round(r.ms),
    changed,
    ...(r.canary ? { canary: true } : {}),
    ...(r.ok ? {} : { step: r.failedStep, error: errorSummary(r.error) }),
  };
}

export interface HostPlan {
  readonly steps: readonly Step[];
  readonly probes: readonly FactProbe[];
  readonly files: readonly string[];
  readonly packages: readonly string[];
}

export interface RunOptions {
  readonly ui: Ui;
  readonly project: ProjectConfig;
  readonly env: EnvironmentConfig;
  readonly hosts: readonly HostConfig[];
  readonly parallel: number;
  readonly dryRun: boolean;
  /** Aborted at a second SIGINT/SIGTERM: steps' ctx.signal (running processes end). */
  readonly signal: AbortSignal;
  /** Aborted at the first: no new step or batch starts; running steps finish (lib/cli/interrupt.ts). */
  readonly stop?: AbortSignal;
  readonly release?: ReleaseInfo;
  /** Builds the executor for a host (ssh, or recording around ssh for dry runs). */
  readonly executor: (host: HostConfig, index: number) => Executor;
  readonly plan: (host: HostConfig) => HostPlan;
  readonly appEnv: (host: HostConfig) => ReadonlyMap<string, string | Secret>;
  readonly deployFiles: ReadonlySet<string>;
  readonly deployFilesDir?: string;
  readonly force?: boolean;
  /** What every host's steps start with in ctx.shared (command options such as --activate). */
  readonly notes?: readonly NoteValue[];
  /** Run every host of a batch at once, whatever --parallel says (steps wait on each other). */
  readonly together?: boolean;
  /** Hosts at a time; a batch with a failed host stops the rollout (0: all at once). */
  readonly batchSize?: number;
  /**
   * Hosts that may fail before the rollout stops: no later batch, and no host
   * still waiting for a free slot (--parallel), starts; default 0.
   */
  readonly maxFail?: number;
  /**
   * The first this many hosts go first, alone, as their own batch: any of them
   * failing (its steps include the health check) stops the rollout, whatever
   * max_fail says. 0: no canary.
   */
  readonly canary?: number;
  /** Resolves secrets of the config that steps ask for (ctx.secret), masked in the run's output. */
  readonly secrets?: SecretResolver;
  /** Hold the app's deploy lock on each host for the whole run (not in dry runs). */
  readonly lock?: { readonly owner: LockOwner; readonly waitSeconds: number };
  /** Hosts already being opened (openHost), by name: the rest are opened when their turn comes. */
  readonly opening?: ReadonlyMap<string, Opening>;
  /** The hooks steps run with ctx.hook (lib/engine/hooks.ts); none without. */
  readonly hooks?: HookRun;
}

/** The facts, files and packages the enabled modules declare for a host. */
export function modulePlanParts(
  modules: readonly ModuleDefinition[],
  host: HostConfig,
): Omit<HostPlan, "steps"> {
  const layout = layoutFor(host);
  const packages = [...new Set(modules.flatMap((m) => m.packages?.(host) ?? []))];
  return {
    probes: [...modules.flatMap((m) => m.facts?.(host, layout) ?? []), packagesProbe(packages)],
    files: modules.flatMap((m) => m.files?.(host, layout) ?? []),
    packages,
  };
}

export async function runOnHosts(opts: RunOptions): Promise<HostResult[]> {
  const width = Math.max(...opts.hosts.map((h) => h.name.length));
  const batches = rolloutBatches(opts.hosts.length, opts.batchSize ?? 0, opts.canary ?? 0);
  const canary = batches.length > 1 && (opts.canary ?? 0) > 0 ? batches[0].count : 0;
  const maxFail = opts.maxFail ?? 0;
  const env = opts.env.name;
  const results: HostResult[] = [];
  // Hosts that ran and failed (not the ones never started): what max_fail counts.
  let failed = 0;
  // Why no further host starts, once that is decided.
  let halt: NotStartedReason | undefined;
  for (const { start, count } of batches) {
    const batch = opts.hosts.slice(start, start + count);
    const isCanary = start === 0 && canary > 0;
    if (batches.length > 1) {
      const label = isCanary ? "canary" : "batch";
      opts.ui.line(opts.ui.dim(`${label}: ${batch.map((h) => h.name).join(", ")}`));
    }
    // Hosts of a batch may wait for each other (barrier): with batches they all run at once.
    const limiter = new Limiter(
      opts.batchSize || opts.together || isCanary ? batch.length : opts.parallel,
    );
    const barrier = new Barrier(batch.map((h) => h.name));
    // Checked when a host's turn comes: one waiting for a free slot (--parallel) may never start.
    const turn = async (host: HostConfig, index: number): Promise<HostResult> => {
      const why = opts.stop?.aborted ? { stopped: opts.stop } : halt;
      if (why) {
        barrier.finish(host.name, false);
        await closeUnused(opts.opening?.get(host.name));
        return notStarted(opts.ui, host.name, why);
      }
      const r = await runHost(opts, host, index, width, barrier, isCanary);
      if (!r.ok) failed++;
      if (!halt && failed > maxFail) halt = { failed, maxFail, env, within: true };
      return r;
    };
    const done = await Promise.all(batch.map((h, i) => limiter.run(() => turn(h, start + i))));
    results.push(...done);
    if (isCanary && done.some((r) => !r.ok)) {
      halt = { env, canary: done.filter((r) => !r.ok).map((r) => r.host) };
    } else if (halt?.within) {
      halt = { ...halt, within: false };
    }
  }
  return results;
}

/** An early-opened host that will not run: its lock and connection are given back. */
async function closeUnused(opening: Opening | undefined): Promise<void> {
  if (!opening) return;
  await opening.release();
  await opening.exec.close();
}

/**
 * The batches of a rollout, as start and count: the canary's hosts first (its
 * own batch), then `batchSize` hosts at a time (0: the rest at once).
 */
export function rolloutBatches(
  total: number,
  batchSize: number,
  canary: number,
): { start: number; count: number }[] {
  const batches: { start: number; count: number }[] = [];
  let start = 0;
  if (canary > 0 && canary < total) {
    batches.push({ start: 0, count: canary });
    start = canary;
  }
  const size = batchSize > 0 ? batchSize : total;
  for (; start < total; start += size) {
    batches.push({ start, count: Math.min(size, total - start) });
  }
  return batches;
}

/** Why a host was not started: a signal, a failed canary, or more failures than max_fail. */
interface NotStartedReason {
  readonly stopped?: AbortSignal;
  readonly failed?: number;
  readonly maxFail?: number;
  readonly env?: string;
  /** The canary hosts that failed. */
  readonly canary?: readonly string[];
  /** The failures came in this host's own batch (hosts waiting for a free slot). */
  readonly within?: boolean;
}

function notStarted(ui: Ui, host: string, why: NotStartedReason): HostResult {
  const { stopped, failed = 0, maxFail = 0, env = "" } = why;
  const reason = stopped?.reason;
  const hosts = (n: number) => `${n} host${n === 1 ? "" : "s"}`;
  const hint = "Fix the failed hosts, then finish the rollout with: " +
    `djaploy deploy --env ${env} --retry-failed`;
  const result: HostResult = {
    host,
    ok: false,
    failedStep: stopped
      ? "stopped before starting"
      : why.canary
      ? "not started (the canary failed)"
      : why.within
      ? "not started (too many hosts failed)"
      : "not started (an earlier batch failed)",
    error: stopped
      ? new StoppedError(reason instanceof StoppedError ? reason.signal : "SIGINT", "this host")
      : why.canary
      ? new UserError(
        `Not deployed: the canary (${why.canary.join(", ")}) failed, so the rollout stopped ` +
          "before the other hosts",
        { hint },
      )
      : why.within
      ? new UserError(
        `Not deployed: ${hosts(failed)} failed, more than max_fail (${maxFail}) allows, ` +
          "so no more hosts were started",
        { hint },
      )
      : new UserError(
        `Not deployed: ${hosts(failed)} of earlier batches failed, ` +
          "more than max_fail allows, so the rollout stopped",
        { hint },
      ),
    steps: [],
    ms: 0,
    stats: { commands: 0, syncs: 0, connections: 0, bytesSent: 0 },
  };
  ui.event(hostEvent(result));
  return result;
}

async function runHost(
  opts: RunOptions,
  host: HostConfig,
  index: number,
  width: number,
  barrier: Barrier,
  canary = false,
): Promise<HostResult> {
  const { ui } = opts;
  const started = performance.now();
  const plan = opts.plan(host);
  const opening = opts.opening?.get(host.name) ??
    openHost(
      opts.executor(host, index),
      host,
      plan,
      opts.dryRun ? undefined : opts.lock,
      waitingForLock(ui, host.name),
    );
  const exec = opening.exec;
  const label = host.name.padEnd(width);
  const steps: StepResult[] = [];
  const show = (status: StepStatus, name: string, ms: number, detail = "") => {
    const shown = status === "ok"
      ? ui.dim("ok     ")
      : status === "changed"
      ? ui.green("changed")
      : ui.red(status.toUpperCase().padEnd(7));
    ui.line(
      `${ui.bold(label)}  ${shown}  ${name}${detail ? ui.dim(`  ${detail}`) : ""}  ${
        ui.dim(formatMs(ms))
      }`,
    );
    ui.event({
      event: "step",
      host: host.name,
      step: name,
      status,
      ms: Math.round(ms),
      ...(detail ? { detail } : {}),
    });
  };
  const finish = (extra: Partial<HostResult>): HostResult => {
    const result: HostResult = {
      host: host.name,
      ok: true,
      steps,
      ms: performance.now() - started,
      stats: exec.stats,
      recorded: exec instanceof RecordingExecutor ? exec.lines() : undefined,
      ...(canary ? { canary } : {}),
      ...extra,
    };
    ui.event(hostEvent(result));
    return result;
  };

  let current = "connect";
  // When the step now running started: a failure shows how long it ran.
  let stepStart = performance.now();
  ui.live?.step(host.name, opening.waiting ? WAIT_FOR_LOCK : "connect and read state");
  try {
    const t0 = stepStart;
    let facts: Facts;
    try {
      facts = (await opening.opened).facts;
    } finally {
      current = opening.phase;
    }
    show("ok", "connect and read state", performance.now() - t0);
    const shared = newShared(opts.notes);
    const hostChanges: string[] = [];
    if (opts.deployFilesDir) shared.set(DEPLOY_FILES_DIR, opts.deployFilesDir);
    if (!shared.has(RUN_ID)) shared.set(RUN_ID, newRunId());
    for (const step of plan.steps) {
      current = step.name;
      const changes: string[] = [];
      const ctx: StepContext = {
        host,
        env: opts.env,
        project: opts.project,
        layout: layoutFor(host),
        exec,
        facts,
        signal: opts.signal,
        dryRun: opts.dryRun,
        release: opts.release,
        appEnv: opts.appEnv(host),
        deployFiles: opts.deployFiles,
        requiredPackages: plan.packages,
        shared,
        hostChanges,
        force: opts.force ?? false,
        barrier: (name) => barrier.arrive(name, host.name),
        hook: (point) => opts.hooks?.atHost(ctx, point) ?? Promise.resolve(),
        secret: opts.secrets ? (value, where) => opts.secrets!.secret(value, where) : undefined,
        changed: (what) => {
          changes.push(what ?? "changed");
          hostChanges.push(what ?? "changed");
        },
        log: {
          info: (m) => ui.line(`${ui.bold(label)}  ${" ".repeat(7)}  ${step.name}: ${m}`),
          warn: (m) => ui.warn(`${host.name}: ${step.name}: ${m}`),
          debug: (m) => ui.debug(`${label}  ${step.name}: ${m}`),
        },
      };
      // Before each change: not after SIGINT/SIGTERM, and only while the lock is surely ours.
      try {
        throwIfStopped(opts.stop, `"${step.name}"`);
        await opening.verifyLock();
      } catch (error) {
        await step.notStarted?.(ctx, error).catch(() => undefined);
        throw error;
      }
      const t = stepStart = performance.now();
      ui.live?.step(host.name, step.name);
      await step.run(ctx);
      const ms = performance.now() - t;
      steps.push({ name: step.name, ms, changes });
      if (changes.length) show("changed", step.name, ms, changes.join(", "));
      else show("ok", step.name, ms);
    }
    barrier.finish(host.name, true);
    return finish({});
  } catch (error) {
    barrier.finish(host.name, false);
    if (error instanceof StoppedError) {
      show("stopped", current, 0, "not started");
      return finish({ ok: false, failedStep: `stopped before ${current}`, error });
    }
    const ms = performance.now() - stepStart;
    steps.push({ name: current, ms, changes: [], error });
    show("failed", current, ms, errorSummary(error));
    return finish({ ok: false, failedStep: current, error });
  } finally {
    ui.live?.done(host.name);
    await opening.release();
    await exec.close();
  }
}

/** A host's live line while it waits for another run's deploy lock. */
const WAIT_FOR_LOCK = "wait for the deploy lock";

/**
 * What a host waiting for another run's deploy lock (--lock-wait) shows: a
 * line naming the holder, its live line, and with --json a "lock_wait" event.
 */
export function waitingForLock(ui: Ui, host: string): (holder: LockOwner | undefined) => void {
  return (holder) => {
    ui.line(`${ui.bold(host)}  waiting for the deploy lock, held by ${describeOwner(holder)}`);
    ui.live?.step(host, WAIT_FOR_LOCK);
    const { holder: who, command, since } = holder ?? {};
    ui.event({ event: "lock_wait", host, holder: who, command, since });
  };
}

/** A host being opened: connected, locked (unless a dry run) and its state read. */
export interface Opening {
  readonly exec: Executor;
  /** Where it is (or stopped): "connect" or "deploy lock". */
  readonly phase: string;
  /** Whether it waits (or waited) for another run's deploy lock. */
  readonly waiting: boolean;
  readonly opened: Promise<{ readonly facts: Facts }>;
  /** Throws when the deploy lock was taken and is no longer surely held (lock.ts verify). */
  verifyLock(): Promise<void>;
  /** Gives the lock back (safe to call more than once, or when opening failed). */
  release(): Promise<void>;
}

/**
 * Connects, takes the app's deploy lock when asked and reads the facts
 * (under the lock, in the same round trip; over ssh, the lock's shell is what
 * logs in). A deploy opens its first hosts
 * this way while it builds the artifact.
 */
export function openHost(
  exec: Executor,
  host: HostConfig,
  plan: Pick<HostPlan, "probes" | "files">,
  lock?: { readonly owner: LockOwner; readonly waitSeconds: number },
  onWait?: (holder: LockOwner | undefined) => void,
): Opening {
  const state = { phase: "connect", held: undefined as HeldLock | undefined, waiting: false };
  const opened = (async () => {
    if (!lock) {
      await exec.connect();
      return { facts: await gatherFacts(exec, plan.probes, plan.files) };
    }
    const query = factsQuery(plan.probes, plan.files);
    // The lock's shell may open the connection itself (lib/exec/ssh.ts, hold): connect() then
    // waits for that login, so a failure to log in is still a failure to connect.
    const taking = acquireLock(exec, host.app_name, lock.owner, lock.waitSeconds, query.script, {
      onWait: (holder) => {
        state.waiting = true;
        onWait?.(holder);
      },
    });
    taking.catch(() => undefined); // awaited below, once connected
    await exec.connect();
    state.phase = "deploy lock";
    state.held = await taking;
    state.phase = "connect";
    return { facts: query.read(exec, state.held.then!) };
  })();
  opened.catch(() => undefined); // reported by whoever awaits it
  // The command a step left for the lock's end (runAtEnd: the history's record), sent by release.
  let atEnd: { cmd: RemoteCommand; settle: (ran: Promise<ExecResult>) => void } | undefined;
  let routed = exec;
  if (lock && exec.lockShellRuns) {
    routed = runningUnderLock(exec, () => state.held);
    routed.runAtEnd = (cmd) => {
      if (atEnd) return Promise.reject(new Error("one command at most runs at the lock's end"));
      return new Promise((resolve, reject) => {
        atEnd = { cmd, settle: (ran) => ran.then(resolve, reject) };
      });
    };
  }
  return {
    exec: routed,
    get phase() {
      return state.phase;
    },
    get waiting() {
      return state.waiting;
    },
    opened,
    async verifyLock() {
      await state.held?.verify();
    },
    async release() {
      await opened.catch(() => undefined);
      const held = state.held;
      state.held = undefined;
      const last = atEnd;
      atEnd = undefined;
      if (last) {
        const ran = finishLock(exec, held, last.cmd);
        last.settle(ran);
        await ran.catch(() => undefined);
      } else await held?.release().catch(() => undefined);
    },
  };
}

function formatBytes(n: number): string {
  return n < 10_000
    ? `${n} B`
    : n < 10_000_000
    ? `${Math.round(n / 1000)} kB`
    : `${Math.round(n / 1e6)} MB`;
}

export function errorSummary(error: unknown): string {
  if (error instanceof CommandError) return `exit code ${error.code}`;
  if (error instanceof UserError) return error.message.split("\n")[0];
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

/** Which hosts run the new release, which failed (and may run either), which were never started. */
export function rolloutGroups(results: readonly HostResult[]) {
  const of = (status: HostStatus[]) =>
    results.filter((r) => status.includes(hostStatus(r))).map((r) => r.host);
  return { new: of(["ok"]), failed: of(["failed", "stopped"]), not_started: of(["not_started"]) };
}

/**
 * Prints the summary table and the full error of each failed host. Given the
 * release a deploy shipped, a partial rollout also says which hosts run it.
 */
export function printSummary(
  ui: Ui,
  results: readonly HostResult[],
  title: string,
  release?: string,
): void {
  const rows: string[][] = [["host", "result", "changed", "time", "ssh"]];
  for (const r of results) {
    const changed = r.steps.reduce((n, s) => n + (s.changes.length ? 1 : 0), 0);
    rows.push([
      r.host,
      r.ok
        ? ui.green("ok")
        : ui.red(hostStatus(r) === "failed" ? `failed at ${r.failedStep}` : `${r.failedStep}`),
      `${changed} step${changed === 1 ? "" : "s"}`,
      formatMs(r.ms),
      `${r.stats.connections} conn, ${r.stats.commands} cmds, ${r.stats.syncs} rsync` +
      (r.stats.bytesSent ? ` (${formatBytes(r.stats.bytesSent)})` : ""),
    ]);
  }
  ui.result("");
  ui.result(ui.bold(title));
  for (const line of table(rows)) ui.result(line);
  const ok = results.length > 0 && results.every((r) => r.ok);
  const groups = release ? rolloutGroups(results) : undefined;
  const canary = results.filter((r) => r.canary);
  if (canary.length) {
    const failed = canary.filter((r) => !r.ok).map((r) => r.host);
    ui.result("");
    ui.result(
      `canary ${canary.map((r) => r.host).join(", ")}: ${
        failed.length
          ? `failed (${failed.join(", ")}), the other hosts were not started`
          : "ok, then the other hosts"
      }`,
    );
  }
  if (groups && !ok) {
    if (!canary.length) ui.result("");
    const list = (hosts: string[]) => hosts.length ? hosts.join(", ") : "none";
    ui.result(`new release ${release}: ${list(groups.new)}`);
    if (groups.failed.length) {
      ui.result(
        `failed, on the previous or the new release (djaploy status says which): ${
          list(groups.failed)
        }`,
      );
    }
    if (groups.not_started.length) {
      ui.result(`not started, still on the previous release: ${list(groups.not_started)}`);
    }
  }
  ui.event({
    event: "summary",
    title,
    ok,
    hosts: Object.fromEntries(results.map((r) => [r.host, hostStatus(r)])),
    ...(groups ? { release, rollout: groups } : {}),
    ...(canary.length ? { canary: canary.map((r) => r.host) } : {}),
  });
  for (const r of results) {
    if (r.ok) continue;
    const e = r.error;
    ui.error(`\n${r.host}: ${r.failedStep}: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof UserError && e.hint) ui.error(`  hint: ${e.hint}`);
    if (!(e instanceof UserError) && e instanceof Error && e.stack) ui.error(e.stack);
  }
}
