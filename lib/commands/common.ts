/** Flags shared by commands, and running a plan on a session's hosts. */
import type { FlagDef, Flags } from "../cli/args.ts";
import { UsageError } from "../errors.ts";
import { loadConfig, type Session } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import {
  type HostPlan,
  type HostResult,
  modulePlanParts,
  openHost,
  type Opening,
  printSummary,
  runOnHosts,
  waitingForLock,
} from "../engine/runner.ts";
import type { NoteValue, ReleaseInfo } from "../engine/module_api.ts";
import type { HostConfig } from "../config/types.ts";
import { commandPoints, type HookedCommand, type HookRun, hookRun } from "../engine/hooks.ts";
export { lockOwner } from "../host/deploy_lock.ts";
import { lockOwner } from "../host/deploy_lock.ts";

export const COMMON_FLAGS = [
  {
    name: "config",
    type: "string",
    valueName: "PATH",
    description: "infra/djaploy.toml to use (default: found walking up from here)",
  },
  { name: "verbose", short: "v", type: "boolean", description: "Show details of every step" },
  { name: "quiet", short: "q", type: "boolean", description: "Show only results and errors" },
  { name: "help", short: "h", type: "boolean", description: "Show this help" },
] as const satisfies readonly FlagDef[];

/** `--env NAME`: every command that acts on an environment's hosts. */
export const ENV_FLAG = {
  name: "env",
  short: "e",
  type: "string",
  valueName: "NAME",
  description: "Environment: a file in infra/inventory/",
} as const satisfies FlagDef;

/** `--hosts A,B`: a subset of the environment's hosts. */
export const HOSTS_FLAG: FlagDef = {
  name: "hosts",
  type: "string",
  valueName: "A,B",
  description: "Only these hosts of the environment",
} as const satisfies FlagDef;

export const HOST_FLAGS = [
  ENV_FLAG,
  HOSTS_FLAG,
  { name: "parallel", type: "number", valueName: "N", description: "Hosts at once (default: all)" },
] as const satisfies readonly FlagDef[];

/** --env, or the only environment there is. */
export async function withEnv(flags: Flags, command: string): Promise<Flags> {
  if (flags.env) return flags;
  const project = await loadConfig(flags);
  if (project.environments.length === 1) return { ...flags, env: project.environments[0] };
  throw new UsageError(
    `djaploy ${command} needs --env NAME: which environment to act on (${
      project.environments.join(", ") || "none in infra/inventory/"
    })`,
  );
}

export interface PlanRun {
  readonly title: string;
  readonly plan: (host: HostConfig) => Promise<HostPlan>;
  readonly release?: ReleaseInfo;
  readonly force?: boolean;
  /** Take the deploy lock (deploy, activate, rollback). */
  readonly lock?: boolean;
  /** --lock-wait seconds. */
  readonly lockWait?: number;
  /** The command line, for the lock's owner record. */
  readonly commandLine?: string;
  readonly notes?: readonly NoteValue[];
  readonly batchSize?: number;
  /** Hosts that may fail before a rolling deploy stops (resolved max_fail). */
  readonly maxFail?: number;
  /** Hosts deployed first, on their own (resolved canary). */
  readonly canary?: number;
  readonly together?: boolean;
  /** Hosts opened early (openEarly), by name. */
  readonly opening?: ReadonlyMap<string, Opening>;
  /** The command's hooks (commandHooks): its own points around the hosts' steps, ctx.hook within. */
  readonly hooks?: HookRun;
}

/** The hooks of a command run in this session (docs/hooks.md). */
export function commandHooks(s: Session, command: HookedCommand): HookRun {
  return hookRun({
    command,
    ui: s.ui,
    dryRun: s.dryRun,
    project: s.project,
    envName: s.env.name,
    modules: (host) => s.modules(host),
    signal: s.signal,
  });
}

/** A command's exit code: 1 when a host failed, or an after_* hook did (nothing undone). */
export function runExitCode(results: readonly HostResult[], hooks?: HookRun): number {
  return results.every((r) => r.ok) && !hooks?.failures.length ? 0 : 1;
}

/** For CI: stdout carries one JSON event a line (step, host, summary); the rest goes to stderr. */
export const JSON_FLAG = {
  name: "json",
  type: "boolean",
  description: "Print one JSON event per line on stdout (each step and host, then a summary)",
} as const satisfies FlagDef;

export const LOCK_FLAGS = [
  {
    name: "lock-wait",
    type: "number",
    valueName: "SECONDS",
    description: "Wait this long for another run's deploy lock (default 0)",
  },
] as const satisfies readonly FlagDef[];

/** The options of runOnHosts that every command takes from its session. */
export function sessionRunOptions(s: Session, ui: Ui = s.ui) {
  return {
    ui,
    project: s.project,
    env: s.env,
    hosts: s.hosts,
    parallel: s.parallel,
    dryRun: s.dryRun,
    signal: s.signal,
    stop: s.stop,
    executor: (h: HostConfig, i: number) => s.executor(h, i),
    appEnv: (h: HostConfig) => s.appEnv.get(h.name)!,
    deployFiles: s.deployFiles,
    deployFilesDir: s.deployFilesDir,
    secrets: s.secrets,
  };
}

function planLock(run: Pick<PlanRun, "lock" | "lockWait" | "commandLine">) {
  return run.lock
    ? { owner: lockOwner(run.commandLine ?? ""), waitSeconds: run.lockWait ?? 0 }
    : undefined;
}

/**
 * Opens the first `count` hosts now (connect, lock, facts), while the caller
 * does local work such as building the artifact; pass the result as
 * `opening` to runPlan. Only hosts that start at once: an idle connection
 * ends after a while (ControlPersist). Release them if runPlan never runs.
 */
export async function openEarly(
  s: Session,
  run: Pick<PlanRun, "plan" | "lock" | "lockWait" | "commandLine">,
  count: number,
): Promise<Map<string, Opening>> {
  const opening = new Map<string, Opening>();
  for (const [i, host] of s.hosts.slice(0, count).entries()) {
    const lock = s.dryRun ? undefined : planLock(run);
    opening.set(
      host.name,
      openHost(
        s.executor(host, i),
        host,
        await run.plan(host),
        lock,
        waitingForLock(s.ui, host.name),
      ),
    );
  }
  return opening;
}

/** Runs a plan on every host of the session, prints the summary, returns the results. */
export async function runPlan(s: Session, run: PlanRun): Promise<HostResult[]> {
  const plans = new Map<string, HostPlan>();
  const hooks = run.hooks;
  const points = hooks && commandPoints(hooks.command);
  for (const host of s.hosts) {
    const plan = await run.plan(host);
    plans.set(
      host.name,
      points
        ? {
          ...plan,
          steps: [
            ...await hooks.hostSteps(points.before, host),
            ...plan.steps,
            ...await hooks.hostSteps(points.after, host),
          ],
        }
        : plan,
    );
  }
  if (points) await hooks.local(points.before, s.hosts);
  const results = await runOnHosts({
    ...sessionRunOptions(s),
    release: run.release,
    force: run.force,
    notes: run.notes,
    batchSize: run.batchSize,
    maxFail: run.maxFail,
    canary: run.canary,
    together: run.together,
    lock: planLock(run),
    opening: run.opening,
    hooks,
    plan: (h) => plans.get(h.name)!,
  });
  if (points && results.length > 0 && results.every((r) => r.ok)) {
    await hooks.local(points.after, s.hosts);
  }
  if (s.dryRun) {
    for (const r of results) {
      s.ui.result("");
      s.ui.result(
        s.ui.bold(`${r.host}: a real run would send ${r.recorded?.length ?? 0} commands:`),
      );
      for (const line of r.recorded ?? []) s.ui.result(`  ${line}`);
    }
  }
  printSummary(s.ui, results, run.title, s.dryRun ? undefined : run.release?.name);
  hooks?.report();
  return results;
}

export { modulePlanParts };
