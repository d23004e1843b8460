/**
 * The module API: named steps attached to named phases of `configure` and
 * `deploy`. A step is a plain async function that gets everything through
 * its context. Built-in modules use nothing else.
 */
import type { EnvironmentConfig, HostConfig, ProjectConfig } from "./config/types.ts";
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
/** A phase of `configure` or `deploy` that modules attach steps to. */
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

/** Where a step writes what it did, for the host's part of the output. */
export interface HostLog {
  /** A line about what a step did (shown with -v, or always when it changed something). */
  info(message: string): void;
  /** Something a person should know. */
  warn(message: string): void;
  /** Details for -v. */
  debug(message: string): void;
}

/** Everything a step gets: the host and its config, the executor, facts, log and run flags. */
export interface StepContext {
  /** The host's config, every setting resolved. */
  readonly host: HostConfig;
  /** The environment the host is in. */
  readonly env: EnvironmentConfig;
  /** infra/djaploy.toml. */
  readonly project: ProjectConfig;
  /** The host's paths and names. */
  readonly layout: Layout;
  /** Runs commands on the host and copies files to it. */
  readonly exec: Executor;
  /** What was on the host at the start of the run (the modules' probes). */
  readonly facts: Facts;
  /** The host's log. */
  readonly log: HostLog;
  /** Aborted when the run stops (SIGINT, SIGTERM, a lost lock). */
  readonly signal: AbortSignal;
  /** `--dry-run`: the executor records commands instead of running them. */
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
  /** Marks the running step as having changed something on the host. */
  changed(what?: string): void;
  /**
   * Resolves a secret of the host's config (a reference, or a plain value
   * that is treated as one); its value is masked in every output of the run.
   * `where` names the key for error messages, e.g. "borg.passphrase".
   */
  readonly secret?: (value: string | SecretRef, where: string) => Promise<Secret>;
}

/** A named step of a module or strategy: a plain async function of the context. */
export interface Step {
  /** Shown in the output, one line per step and host. */
  readonly name: string;
  /** Does the step's work on `ctx.host`; throws to fail the host. */
  readonly run: (ctx: StepContext) => Promise<void>;
  /**
   * Called instead of `run` when the run stops before this step (SIGINT or
   * SIGTERM, a lost deploy lock), with the reason: to record it, not to
   * change anything.
   */
  readonly notStarted?: (ctx: StepContext, reason: unknown) => Promise<void>;
}

/** A module: named steps at phases, and what they need on the host. */
export interface ModuleDefinition {
  /** The module's name: also the name of its config table, if it has one. */
  readonly name: string;
  /** What the module does, in one line. */
  readonly description?: string;
  /** Probes this module's steps read, gathered once per host at the start of a run. */
  readonly facts?: (host: HostConfig, layout: Layout) => readonly FactProbe[];
  /** Debian packages this module needs on the host (installed by `configure`). */
  readonly packages?: (host: HostConfig) => readonly string[];
  /** Remote files whose content hash the steps compare before writing. */
  readonly files?: (host: HostConfig, layout: Layout) => readonly string[];
  /** The steps, by the phase they run in. */
  readonly steps?: Partial<Record<Phase, readonly Step[]>>;
}

/** Declares a module; returns it unchanged, typed. */
export function defineModule(definition: ModuleDefinition): ModuleDefinition {
  return definition;
}
