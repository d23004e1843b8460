/**
 * The module API: named steps attached to named phases of `configure` and
 * `deploy`. A step is a plain async function that gets everything through
 * its context. Built-in modules use nothing else.
 */
import type { EnvironmentConfig, HookPoint, HostConfig, ProjectConfig } from "./config/types.ts";
import type { Executor } from "./executor.ts";
import type { FactProbe, Facts } from "./facts.ts";
import type { Layout } from "./layout.ts";
import type { Secret, SecretRef } from "./secret.ts";

/**
 * Phases, in the order they run. `configure` prepares a server; the deploy
 * phases follow the Python djaploy's: upload (code is on the host),
 * configure (config files written), pre (dependencies, migrations, static
 * files: the new code is ready), start (services run the new code).
 */
export const PHASES = [
  "configure",
  "deploy:upload",
  "deploy:configure",
  "deploy:pre",
  "deploy:start",
] as const;
export type Phase = typeof PHASES[number];

/** What is being deployed, known during deploy phases. */
export interface ReleaseInfo {
  /** The release's name: `{time}-{short commit}`. */
  readonly name: string;
  /** The local directory holding the artifact's files. */
  readonly artifactDir: string;
  /** The commit deployed (for --local: HEAD plus the working tree's changes). */
  readonly commit: string;
  /** What was asked for: a tag, a branch, or "local". */
  readonly ref: string;
  /** git tree hash of the artifact: equal trees are equal code. */
  readonly tree: string;
}

export interface HostLog {
  /** A line about what a step did (shown with -v, or always when it changed something). */
  info(message: string): void;
  /** Something a person should know. */
  warn(message: string): void;
  /** Details for -v. */
  debug(message: string): void;
}

export interface StepContext {
  readonly host: HostConfig;
  readonly env: EnvironmentConfig;
  readonly project: ProjectConfig;
  readonly layout: Layout;
  readonly exec: Executor;
  readonly facts: Facts;
  readonly log: HostLog;
  readonly signal: AbortSignal;
  readonly dryRun: boolean;
  /** Set during deploy phases. */
  readonly release?: ReleaseInfo;
  /** The app's environment with secrets resolved (values are Secret where they came from a reference). */
  readonly appEnv: ReadonlyMap<string, string | Secret>;
  /** Remote paths that infra/deploy_files/<env>/ provides: generated files at these paths are not written. */
  readonly deployFiles: ReadonlySet<string>;
  /** Debian packages every enabled module needs; the core module installs the missing ones. */
  readonly requiredPackages: readonly string[];
  /** Notes steps leave for later steps of the same host and run (e.g. "units changed"). */
  readonly notes: Map<string, unknown>;
  /** Everything steps changed on this host so far in this run. */
  readonly hostChanges: readonly string[];
  /** --force: redo work that would be skipped because nothing changed. */
  readonly force: boolean;
  /**
   * Waits until every host of the batch reached the same named point (or
   * finished); throws when one of them failed before it. blue-green uses it
   * to activate only once every host staged a healthy slot.
   */
  barrier(name: string): Promise<void>;
  /**
   * Runs the hooks of a point that happens on this host (`before_migrate`,
   * `after_migrate`, `before_switch`, `after_switch`): `[hooks]` commands
   * (remote ones here, local ones on the deploying machine) and the modules'
   * `hooks` steps. A failing before_* (or after_migrate) hook throws; a
   * failing after_* hook is reported and the step goes on (lib/hooks.ts).
   */
  hook(point: HookPoint): Promise<void>;
  /** Marks the running step as having changed something on the host. */
  changed(what?: string): void;
  /**
   * Resolves a secret of the host's config (a reference, or a plain value
   * that is treated as one); its value is masked in every output of the run.
   * `where` names the key for error messages, e.g. "borg.passphrase".
   */
  readonly secret?: (value: string | SecretRef, where: string) => Promise<Secret>;
}

export interface Step {
  readonly name: string;
  readonly run: (ctx: StepContext) => Promise<void>;
  /**
   * Called instead of `run` when the run stops before this step (SIGINT or
   * SIGTERM, a lost deploy lock), with the reason: to record it, not to
   * change anything.
   */
  readonly notStarted?: (ctx: StepContext, reason: unknown) => Promise<void>;
}

export interface ModuleDefinition {
  /** The module's name: also the name of its config table, if it has one. */
  readonly name: string;
  readonly description?: string;
  /** Probes this module's steps read, gathered once per host at the start of a run. */
  readonly facts?: (host: HostConfig, layout: Layout) => readonly FactProbe[];
  /** Debian packages this module needs on the host (installed by `configure`). */
  readonly packages?: (host: HostConfig) => readonly string[];
  /** Remote files whose content hash the steps compare before writing. */
  readonly files?: (host: HostConfig, layout: Layout) => readonly string[];
  readonly steps?: Partial<Record<Phase, readonly Step[]>>;
  /**
   * Steps run at hook points (docs/hooks.md), on each host, after the
   * `[hooks]` commands of the same point: e.g. `{ after_switch: [purgeCdn] }`.
   * They fail like hooks: before the switch a failure stops the command,
   * after it the failure is reported and nothing is undone.
   */
  readonly hooks?: Partial<Record<HookPoint, readonly Step[]>>;
}

/** Declares a module; returns it unchanged, typed. */
export function defineModule(definition: ModuleDefinition): ModuleDefinition {
  return definition;
}
