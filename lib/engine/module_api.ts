/**
 * The module API: named steps attached to named phases of `configure` and
 * `deploy`. A step is a plain async function that gets everything through
 * its context. Built-in modules use nothing else.
 */
import type { EnvironmentConfig, HookPoint, HostConfig, ProjectConfig } from "../config/types.ts";
import type { Executor } from "../exec/executor.ts";
import type { FactProbe, Facts } from "../host/facts.ts";
import type { Layout } from "../host/layout.ts";
import type { Secret, SecretRef } from "../secrets/secret.ts";

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
  /**
   * What steps leave for later steps of the same host and run, by typed key
   * (a `Note<T>`): e.g. the virtualenv `dependencies` built, read by the
   * steps that start the code.
   */
  readonly shared: Shared;
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
   * failing after_* hook is reported and the step goes on (lib/engine/hooks.ts).
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

/**
 * A typed key for what steps share within one host's run. The key, not its
 * name, identifies the value: two modules cannot overwrite each other's.
 * Each key says in its doc which step provides it and which read it.
 */
export interface Note<T> {
  /** For people: what the value is. */
  readonly name: string;
  /** Never set: it ties the type `get` returns to the one `set` takes, for the type checker. */
  readonly valueType?: (value: T) => T;
}

/** Declares a typed key: `const VENV = note<string>("venv")`. */
export function note<T>(name: string): Note<T> {
  return { name };
}

/** What the steps of one host's run share: read and written by typed key. */
export interface Shared {
  /** The value under `key`, if a step provided one. */
  get<T>(key: Note<T>): T | undefined;
  /** The value an earlier step must have provided; throws (a bug in the plan's order) if none did. */
  need<T>(key: Note<T>): T;
  /** Provides `value` under `key` to the later steps of this host's run. */
  set<T>(key: Note<T>, value: T): void;
  /** Whether a step provided a value under `key`. */
  has<T>(key: Note<T>): boolean;
}

/** A key with its value, to start a run with (a command's options, such as --activate). */
export interface NoteValue {
  /** The key's name. */
  readonly name: string;
  /** Sets the value in a run's shared state. */
  readonly apply: (shared: Shared) => void;
}

/** `key` holding `value` when the run starts. */
export function noteValue<T>(key: Note<T>, value: T): NoteValue {
  return { name: key.name, apply: (shared) => shared.set(key, value) };
}

/** Set by the runner: the local infra/deploy_files/<env>/ folder, when there is one. Read by the core module. */
export const DEPLOY_FILES_DIR: Note<string> = note("deploy files dir");
/** Provided by the core module: the remote paths deploy_files/ changed. Read by nginx and systemd. */
export const DEPLOY_FILES_CHANGED: Note<readonly string[]> = note("deploy files changed");
/** Provided by the core module: the Debian packages it installed in this run. Read by nginx. */
export const INSTALLED_PACKAGES: Note<readonly string[]> = note("installed packages");

/** Set by the runner unless the run starts with one: this run's id, one word, unique per run (unit names). */
export const RUN_ID: Note<string> = note("run id");

/** A new run id: `r` and base-36 time and randomness, no dash. */
export function newRunId(): string {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `r${Date.now().toString(36)}${rand}`;
}

/** The shared state of a new run, holding `initial`. */
export function newShared(initial: readonly NoteValue[] = []): Shared {
  const values = new Map<object, unknown>();
  const shared: Shared = {
    // The one place a value is typed back: only set() puts it there, under a key of its type.
    get: <T>(key: Note<T>) => values.get(key) as T | undefined,
    need: <T>(key: Note<T>) => {
      if (!values.has(key)) {
        throw new Error(`A step needs "${key.name}", which no earlier step of the plan provided`);
      }
      return values.get(key) as T;
    },
    set: <T>(key: Note<T>, value: T) => void values.set(key, value),
    has: <T>(key: Note<T>) => values.has(key),
  };
  for (const v of initial) v.apply(shared);
  return shared;
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
