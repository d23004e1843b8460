/** Deploy steps every strategy uses: check, dependencies, Django tasks, restart, health, record. */
import * as remotePath from "../remote_path.ts";
import { note, type Step, type StepContext } from "../engine/module_api.ts";
import { dependencyPlan, toolsProbe } from "./dependencies.ts";
import { type Slot, venvDir } from "../host/layout.ts";
import { type PlannedCommand, type RemoteCommand, shScript } from "../exec/remote_command.ts";
import {
  BUILD_VENV_SH,
  HEALTH_CHECK_PY,
  HEALTH_DIAGNOSIS_PY,
  MIGRATE_AND_COLLECTSTATIC_PY,
} from "../../templates/scripts.ts";
import type { FactProbe } from "../host/facts.ts";
import type { Layout } from "../host/layout.ts";
import { type HostConfig, STRATEGIES } from "../config/types.ts";
import { appUnitsProbe, linkProbe, userProbe } from "../host/probes.ts";
import { UserError } from "../errors.ts";
import { type DjangoInputs, djangoInputs } from "../django/static_inputs.ts";
import { deployVersion } from "./version_file.ts";
import { syncProcessUnits } from "./processes.ts";

/** Provided by `dependencies` (or a rollback): the virtualenv the release runs with. */
export const VENV = note<string>("venv");
/** Provided by `dependencies`: the hash of the dependency files, read by migrate and collectstatic. */
export const DEPENDENCY_HASH = note<string>("dependency hash");
/** Provided by a slot strategy's upload step (setTarget): where the new code is. */
export const TARGET_DIR = note<string>("target code dir");
/** Provided by bluegreen (setTasksDir): where migrate and collectstatic run instead of the target. */
export const TASKS_DIR = note<string>("tasks code dir");
/** Provided by migrate and collectstatic: what collectstatic read, for the release's record. */
export const DJANGO_INPUTS = note<DjangoInputs>("django inputs");
/** Provided by the step that found the release already live: later steps change nothing. */
export const ALREADY_LIVE = note<boolean>("already live");
/**
 * Provided by a slot strategy (setStaticDir): the idle slot's static folder,
 * this run's STATIC_ROOT. Without it: in_place's shared/staticfiles.
 */
export const STATIC_DIR = note<string>("static dir");
/**
 * Provided by migrate and collectstatic when it skipped collectstatic for a
 * slot's folder: fill `to` from the live folder `from` when the slot starts
 * (startSlot), not before (bluegreen's idle slot may still be rollback's).
 */
export const STATIC_SEED = note<{ readonly from: string; readonly to: string }>("static seed");
/** Provided by a switch: where root's live-static link points now (the fact predates it). */
export const LIVE_STATIC = note<string>("live static");

/** One deployed release, as recorded on the host. */
export interface ReleaseRecord {
  /** The release's name: `{time}-{short commit}`. */
  readonly release: string;
  /** The commit deployed. */
  readonly commit: string;
  /** What was asked for: a tag, a branch, or "local". */
  readonly ref: string;
  /** git tree hash of the artifact: equal trees are equal code. */
  readonly tree: string;
  /** The virtualenv the release runs with. */
  readonly venv: string;
  /** The Python the virtualenv was made with. */
  readonly python?: string;
  /** When it was deployed (ISO 8601, UTC). */
  readonly deployed_at: string;
  /** When it went live (ISO 8601, UTC), if it did. */
  readonly activated_at?: string;
  /** The environment it was deployed to. */
  readonly environment: string;
  /** The deploy's version ([versioning]), also in the VERSION file next to the code. */
  readonly version?: string;
  /** Written by earlier djaploy versions (migrate now asks the database); read, never written. */
  readonly migrate_hash?: string;
  /** The hash of what collectstatic reads (lib/django/static_inputs.ts). */
  readonly static_hash?: string;
}

/** What a slot (blue or green) holds. */
export interface SlotRecord extends ReleaseRecord {
  /** staged: running, not receiving traffic; active: receiving traffic; failed: did not pass its health check. */
  readonly state: "staged" | "active" | "stopped" | "failed";
}

/**
 * .djaploy/state.json: the live release at the top level (every strategy),
 * and for slot strategies which slot is active and what each one holds.
 */
export interface DeployState extends ReleaseRecord {
  /** The strategy of the deploy that wrote the state. */
  readonly strategy: string;
  /** Slot strategies: the slot receiving traffic. */
  readonly active?: Slot;
  /** Slot strategies: what each slot holds. */
  readonly slots?: Partial<Record<Slot, SlotRecord>>;
}

/**
 * The host's deploy state. It is root's record (layout.recordsDir); a host
 * deployed by a djaploy before 0.2 has it only in the app's folder, where the
 * app user could have changed it: that copy is read once, validated, and
 * replaced by root's on the next deploy.
 */
export function stateProbe(layout: Layout): FactProbe<DeployState | undefined> {
  return {
    name: "deploy-state",
    argv: shScript(
      'cat -- "$1" 2>/dev/null && exit 0; [ -f "$2" ] && [ ! -L "$2" ] && exec cat -- "$2"; exit 1',
      layout.stateFile,
      layout.legacyStateFile,
    ),
    parse: (out, code) => (code === 0 ? parseDeployState(out, layout) : undefined),
  };
}

const RELEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Reads state.json, keeping only records whose fields have the shape
 * djaploy writes (a release name, a virtualenv in shared/, a slot name):
 * anything else is no state at all, never a path or name to act on.
 */
export function parseDeployState(text: string, layout: Layout): DeployState | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const state = validRecord(raw, layout);
  if (!state) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.strategy !== "string" || !STRATEGIES.some((s) => s === r.strategy)) return undefined;
  if (r.active !== undefined && r.active !== "blue" && r.active !== "green") return undefined;
  let slots: Partial<Record<Slot, SlotRecord>> | undefined;
  if (r.slots !== undefined) {
    if (typeof r.slots !== "object" || r.slots === null) return undefined;
    slots = {};
    for (const [name, value] of Object.entries(r.slots)) {
      if (name !== "blue" && name !== "green") return undefined;
      const record = validRecord(value, layout);
      const slotState = (value as Record<string, unknown>)?.state;
      if (!record || !["staged", "active", "stopped", "failed"].includes(String(slotState))) {
        return undefined;
      }
      slots[name] = { ...record, state: slotState as SlotRecord["state"] };
    }
  }
  return {
    ...state,
    strategy: r.strategy,
    ...(r.active ? { active: r.active as Slot } : {}),
    ...(slots ? { slots } : {}),
  };
}

function validRecord(value: unknown, layout: Layout): ReleaseRecord | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const str = (k: string) => typeof r[k] === "string";
  const optStr = (k: string) => r[k] === undefined || str(k);
  if (!str("release") || !RELEASE_NAME.test(r.release as string)) return undefined;
  if (!str("venv") || !isVenvPath(r.venv as string, layout)) return undefined;
  for (const k of ["commit", "ref", "tree", "deployed_at", "environment"]) {
    if (!str(k)) return undefined;
  }
  for (const k of ["python", "activated_at", "version", "migrate_hash", "static_hash"]) {
    if (!optStr(k)) return undefined;
  }
  const keys = [
    "release",
    "commit",
    "ref",
    "tree",
    "venv",
    "python",
    "deployed_at",
    "activated_at",
    "environment",
    "version",
    "migrate_hash",
    "static_hash",
  ] as const;
  return Object.fromEntries(
    keys.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]),
  ) as unknown as ReleaseRecord;
}

/** A virtualenv djaploy builds: shared/venv-<hash>-py<version>, nothing else. */
function isVenvPath(path: string, layout: Layout): boolean {
  return remotePath.dirname(path) === layout.sharedDir &&
    /^venv-[A-Za-z0-9._-]+$/.test(remotePath.basename(path));
}

/** Names of complete virtualenvs in shared/. */
export function venvsProbe(layout: Layout): FactProbe<Set<string>> {
  return {
    name: "venvs",
    argv: shScript(
      'for d in "$1"/venv-*; do [ -f "$d/.djaploy-complete" ] && echo "$d"; done; true',
      layout.sharedDir,
    ),
    parse: (out) => new Set(out.split("\n").filter(Boolean)),
  };
}

/**
 * The command that removes the virtualenvs no kept release or slot uses,
 * once a switch succeeded: every complete one in shared/ but `keep`, this
 * run's, the one live before it (the previous) and the venv link's. Run as
 * the app user, whose files they are. Undefined when none is unused.
 */
export function pruneVenvsCommand(
  ctx: StepContext,
  keep: Iterable<string | undefined>,
): PlannedCommand | undefined {
  const kept = new Set<string | undefined>([
    ...keep,
    ctx.shared.get(VENV),
    liveState(ctx)?.venv,
    ctx.facts.get(linkProbe("venv-link", ctx.layout.venvLink)),
  ]);
  const unused = [...ctx.facts.get(venvsProbe(ctx.layout))]
    .filter((v) => isVenvPath(v, ctx.layout) && !kept.has(v))
    .sort();
  if (unused.length === 0) return undefined;
  return {
    command: { argv: ["rm", "-rf", "--", ...unused], as: ctx.host.app_user },
    change: `removed ${unused.length} unused virtualenv${unused.length === 1 ? "" : "s"}: ${
      unused.map((v) => remotePath.basename(v)).join(", ")
    }`,
  };
}

export function deployProbes(host: HostConfig, layout: Layout): FactProbe[] {
  return [
    userProbe(host.app_user),
    stateProbe(layout),
    venvsProbe(layout),
    appUnitsProbe(host),
    linkProbe("venv-link", layout.venvLink),
    liveStaticProbe(layout),
    toolsProbe(host),
  ];
}

/** Where root's live-static link (nginx's /static/) points. */
export function liveStaticProbe(layout: Layout): FactProbe<string | undefined> {
  return linkProbe("live-static", layout.liveStatic);
}

/**
 * The static folder nginx serves now: where the live-static link points, or
 * shared/staticfiles where there is no link yet (a new host, or one whose
 * releases all shared that folder: djaploy before static files per slot).
 */
export function liveStaticDir(ctx: StepContext): string {
  return ctx.shared.get(LIVE_STATIC) ?? ctx.facts.get(liveStaticProbe(ctx.layout)) ??
    ctx.layout.staticRoot;
}

/** A slot strategy: this run collects into (or fills) `dir`, the idle slot's static folder. */
export function setStaticDir(ctx: StepContext, dir: string): void {
  ctx.shared.set(STATIC_DIR, dir);
}

/** Where the new code is and which Python runs it: set by the strategy, in_place by default. */
export interface Target {
  readonly codeDir: string;
  /** manage.py's folder. */
  readonly manageDir: string;
  readonly python: string;
  /** STATIC_ROOT for what runs there: collectstatic's output, the manifest the code reads. */
  readonly staticRoot: string;
}

export function setTarget(ctx: StepContext, codeDir: string): void {
  ctx.shared.set(TARGET_DIR, codeDir);
}

export function target(ctx: StepContext): Target {
  const set = ctx.shared.get(TARGET_DIR);
  const codeDir = set ?? ctx.layout.codeDir;
  const venv = ctx.shared.get(VENV);
  // in_place runs through the venv link; slot strategies name their venv directly.
  const python = set !== undefined && venv
    ? remotePath.join(venv, "bin", "python")
    : remotePath.join(ctx.layout.venvLink, "bin", "python");
  return {
    codeDir,
    manageDir: remotePath.join(codeDir, ctx.layout.manageRel),
    python,
    staticRoot: ctx.shared.get(STATIC_DIR) ?? ctx.layout.staticRoot,
  };
}

/** The host's deploy state as it was when the run started. */
export function liveState(ctx: StepContext): DeployState | undefined {
  return ctx.facts.get(stateProbe(ctx.layout));
}

/**
 * The release is the one the host's records name, with this venv, and
 * nothing changed in this run so far (--force: never). Reads only.
 */
export function unchangedSinceLive(ctx: StepContext): boolean {
  if (ctx.force || ctx.hostChanges.length > 0) return false;
  const state = liveState(ctx);
  return state !== undefined && state.tree === ctx.release?.tree &&
    state.venv === ctx.shared.get(VENV);
}

/**
 * The release is the one that runs, with this venv, nothing else changed in
 * this run, and what serves it is up (`servingUp`: the strategy's units):
 * there is nothing to migrate, restart, check or switch. Says so, and tells
 * the later steps (ALREADY_LIVE).
 */
export function noteIfAlreadyLive(
  ctx: StepContext,
  servingUp: (ctx: StepContext) => boolean,
): boolean {
  if (!unchangedSinceLive(ctx) || !servingUp(ctx)) return false;
  ctx.log.info(
    `already live: ${ctx.release!.name} (${
      ctx.release!.ref
    }) runs and nothing changed; --force redeploys`,
  );
  ctx.shared.set(ALREADY_LIVE, true);
  return true;
}

/** in_place: every service of the app runs. */
function servicesUp(ctx: StepContext): boolean {
  const units = ctx.facts.get(appUnitsProbe(ctx.host));
  return ctx.host.services.every((s) => units.get(s)?.active === "active");
}

export const checkConfigured: Step = {
  name: "check server",
  run(ctx) {
    if (!ctx.facts.get(userProbe(ctx.host.app_user))) {
      throw new UserError(
        `Configure ${ctx.host.name} first: the app user "${ctx.host.app_user}" does not exist there`,
        { hint: `Run: djaploy configure --env ${ctx.env.name}` },
      );
    }
    return Promise.resolve();
  },
};

export const dependencies: Step = {
  name: "dependencies",
  async run(ctx) {
    const release = ctx.release!;
    const plan = await dependencyPlan(ctx.host, release.artifactDir);
    const venv = venvDir(ctx.layout, plan.hash, ctx.host.python_version);
    ctx.shared.set(VENV, venv);
    ctx.shared.set(DEPENDENCY_HASH, plan.hash);
    if (!ctx.facts.get(venvsProbe(ctx.layout)).has(venv)) {
      if (plan.tool && !ctx.facts.get(toolsProbe(ctx.host)).has(plan.tool.dir)) {
        throw new UserError(
          `Install ${plan.tool.name} on ${ctx.host.name} first: ${plan.tool.dir} is not there`,
          {
            hint:
              `Set [dependencies] manager = "${plan.manager}" and run: djaploy configure --env ${ctx.env.name}`,
          },
        );
      }
      ctx.log.info(`installing with ${plan.manager} (${plan.lockFile} changed)`);
      await ctx.exec.run({
        argv: shScript(
          BUILD_VENV_SH,
          venv,
          `python${ctx.host.python_version}`,
          plan.manager,
          ctx.host.dependencies.system_site_packages ? "1" : "0",
          target(ctx).codeDir,
          plan.command,
          ctx.layout.dependenciesEnvFile,
          ...ctx.host.dependencies.install_args,
        ),
        as: ctx.host.app_user,
      });
      ctx.changed(`built ${remotePath.basename(venv)}`);
    }
  },
};

/** in_place: points the venv link at the release's virtualenv. */
export const linkVenv: Step = {
  name: "link virtualenv",
  async run(ctx) {
    const venv = ctx.shared.need(VENV);
    // The link itself, not state.json: a failed deploy may have moved it.
    if (ctx.facts.get(linkProbe("venv-link", ctx.layout.venvLink)) === venv) return;
    await ctx.exec.run({ argv: ["ln", "-sfn", venv, ctx.layout.venvLink], as: ctx.host.app_user });
    ctx.changed(`venv -> ${remotePath.basename(venv)}`);
  },
};

/** manage.py run as the app user, with the app's environment, from manage.py's folder. */
export function manageCommand(ctx: StepContext, args: readonly string[], t: Target = target(ctx)) {
  return {
    // The env file's STATIC_ROOT is the live folder: the release's own folder overrides it.
    argv: [
      ctx.layout.runScript,
      "env",
      `STATIC_ROOT=${t.staticRoot}`,
      t.python,
      ctx.layout.manageFile,
      ...args,
    ],
    as: ctx.host.app_user,
    cwd: t.manageDir,
  };
}

/** A string or boolean as Python source (a JSON string is a valid Python string literal). */
function pythonLiteral(value: string | boolean): string {
  return typeof value === "boolean" ? (value ? "True" : "False") : JSON.stringify(value);
}

/**
 * Runs migrate and/or collectstatic for the target, in one Python process.
 * migrate "check": only if Django says the database lacks a migration.
 * `seedFrom`: collectstatic first makes the target's static folder a copy of
 * this one (the live folder), then collects over it.
 */
export async function runDjangoTasks(
  ctx: StepContext,
  tasks: { migrate: boolean | "check"; collectstatic: boolean; seedFrom?: string },
  t: Target = target(ctx),
): Promise<void> {
  if (!tasks.migrate && !tasks.collectstatic) return;
  // manage.py shell -c takes no arguments: the values follow the program, as Python literals.
  // Aliases are checked by the schema ([A-Za-z0-9_-]): a JSON list is a Python list.
  const code = `${MIGRATE_AND_COLLECTSTATIC_PY}\n` +
    `MIGRATE = ${pythonLiteral(tasks.migrate)}\n` +
    `COLLECTSTATIC = ${pythonLiteral(tasks.collectstatic)}\n` +
    `DATABASES = ${JSON.stringify(ctx.host.django.databases)}\n` +
    `STATIC_DIR = ${pythonLiteral(t.staticRoot)}\n` +
    `SEED_FROM = ${tasks.seedFrom === undefined ? "None" : pythonLiteral(tasks.seedFrom)}\n` +
    "migrate_and_collectstatic(MIGRATE, COLLECTSTATIC, DATABASES, STATIC_DIR, SEED_FROM)\n";
  const out = await ctx.exec.run(manageCommand(ctx, ["shell", "-c", code], t));
  const applied = out.stdout.split("\n").filter((l) => /Applying .* OK/.test(l)).length;
  const copied = /(\d+) static files? copied/.exec(out.stdout)?.[1];
  if (tasks.migrate === "check") {
    const dbs = ctx.host.django.databases;
    const migrated = [...out.stdout.matchAll(/^djaploy: migrate --database (\S+)$/gm)].map((m) =>
      m[1]
    );
    const skipped = dbs.filter((d) => !migrated.includes(d));
    if (/^djaploy: 0 migrations to apply$/m.test(out.stdout)) {
      ctx.log.info(
        dbs.length === 1
          ? "skipped migrate: the database has every migration of this code"
          : `skipped migrate: each database (${dbs.join(", ")}) has every migration of this code`,
      );
    } else if (dbs.length > 1 && skipped.length) {
      ctx.log.info(
        `migrated ${migrated.join(", ")}; skipped ${skipped.join(", ")}: ${
          skipped.length === 1 ? "it has" : "they have"
        } every migration of this code`,
      );
    }
  }
  if (applied) ctx.changed(`applied ${applied} migration${applied === 1 ? "" : "s"}`);
  if (copied && copied !== "0") ctx.changed(`copied ${copied} static files`);
}

/** The app's environment as its env file has it, for hashing. */
function envForHash(ctx: StepContext): Map<string, string> {
  const vars = new Map([["STATIC_ROOT", ctx.layout.liveStatic], [
    "MEDIA_ROOT",
    ctx.layout.mediaRoot,
  ]]);
  for (const [k, v] of ctx.appEnv) vars.set(k, typeof v === "string" ? v : v.reveal());
  return vars;
}

/**
 * Where migrate and collectstatic run: the target, or a folder a strategy
 * names instead (bluegreen's live slot, when the staging slot is not
 * uploaded yet because the live one runs this very code).
 */
export function setTasksDir(ctx: StepContext, codeDir: string): void {
  ctx.shared.set(TASKS_DIR, codeDir);
}

/** Where migrate, collectstatic and the release command run (see setTasksDir). */
export function tasksTarget(ctx: StepContext): Target {
  const t = target(ctx);
  const dir = ctx.shared.get(TASKS_DIR);
  return dir ? { ...t, codeDir: dir, manageDir: remotePath.join(dir, ctx.layout.manageRel) } : t;
}

export const migrateAndCollectstatic: Step = {
  name: "migrate and collectstatic",
  async run(ctx) {
    await ctx.hook("before_migrate");
    const inputs = await djangoInputs(ctx.release!.artifactDir, {
      dependencyHash: ctx.shared.need(DEPENDENCY_HASH),
      python: ctx.host.python_version,
      env: envForHash(ctx),
    });
    ctx.shared.set(DJANGO_INPUTS, inputs);
    // Always asked, even when this code is live: the database may have moved or gone back.
    const migrate = ctx.force ? true : "check";
    const t = tasksTarget(ctx);
    const live = liveStaticDir(ctx);
    // A slot strategy's own folder (not the live one): filled from the live one, never shared.
    const slotFolder = ctx.shared.has(STATIC_DIR) && t.staticRoot !== live;
    const unchanged = !ctx.force && liveState(ctx)?.static_hash === inputs.static;
    // in_place collects where it serves; coming from a slot strategy, that folder may be stale.
    const collectstatic = !unchanged || (t.staticRoot !== live && !slotFolder);
    if (!collectstatic) {
      ctx.log.info(
        "skipped collectstatic: the files, settings and [env] it reads are unchanged since the live release (--force runs it)",
      );
      // The slot starts with (hard links to) the live release's static files.
      if (slotFolder) ctx.shared.set(STATIC_SEED, { from: live, to: t.staticRoot });
    }
    await runDjangoTasks(
      ctx,
      { migrate, collectstatic, seedFrom: slotFolder ? live : undefined },
      t,
    );
    await ctx.hook("after_migrate");
  },
};

/** Restarts the app's services and `[processes]` (their units written first, lib/deploy/processes.ts). */
export const restartServices: Step = {
  name: "restart services",
  async run(ctx) {
    noteIfAlreadyLive(ctx, servicesUp);
    // in_place runs code/ with the venv link: the processes' units name those, and follow them.
    const procs = await syncProcessUnits(ctx, {
      manageDir: ctx.layout.manageDir,
      venv: ctx.layout.venvLink,
    });
    const restart = ctx.shared.get(ALREADY_LIVE)
      ? procs.changed
      : [...ctx.host.services, ...procs.all];
    if (restart.length === 0) return;
    // in_place moves traffic by restarting the app on the new code.
    if (!ctx.shared.get(ALREADY_LIVE)) await ctx.hook("before_switch");
    await ctx.exec.run({ argv: ["systemctl", "restart", ...restart], as: "root" });
    ctx.changed(`restarted ${restart.join(", ")}`);
  },
};

/** What the probe asks for: the path, and the statuses that count as healthy ("200" or "200-399"). */
export function healthProbe(host: HostConfig): { path: string; expected: string } {
  const hc = host.health_check;
  if (hc.expected_status !== undefined) {
    return { path: hc.path || "/", expected: String(hc.expected_status) };
  }
  return hc.path ? { path: hc.path, expected: "200" } : { path: "/", expected: "200-399" };
}

/**
 * The command that probes the app over a socket before (or, in_place, just
 * after) it gets traffic; undefined only with `[health_check] enabled = false`.
 * It runs as the app user: the socket is in folders the app user writes, so
 * root never connects to it, and the app user can only make its own app's
 * answer look better or worse, which its code can anyway. Like the app
 * user's other commands, it runs in the shell that holds the deploy lock.
 */
export function healthCheckCommand(
  ctx: StepContext,
  socketPath: string,
): RemoteCommand | undefined {
  const hc = ctx.host.health_check;
  if (!hc.enabled) return undefined;
  const { path, expected } = healthProbe(ctx.host);
  return {
    argv: [
      "python3",
      "-c",
      HEALTH_CHECK_PY,
      socketPath,
      path,
      hc.host,
      expected,
      String(hc.retries),
      String(hc.interval),
    ],
    as: ctx.host.app_user,
  };
}

/** The command that runs the probe's request once through Django in `t`, as the app user. */
export function healthDiagnosisCommand(ctx: StepContext, t: Target): RemoteCommand {
  const { path } = healthProbe(ctx.host);
  const code = `${HEALTH_DIAGNOSIS_PY}\n` +
    `PATH = ${pythonLiteral(path)}\n` +
    `HOST = ${pythonLiteral(ctx.host.health_check.host)}\n` +
    "diagnose(PATH, HOST)\n";
  const cmd = manageCommand(ctx, ["shell", "-c", code], t);
  // An app that hangs must not hang the deploy that already failed.
  return { ...cmd, argv: ["timeout", "60", ...cmd.argv], okCodes: [0, 1, 124] };
}

/** Where the failed check ran: the code and Python of the release, and its unit. */
export interface HealthFailure {
  /** The probe's stderr (HEALTH_CHECK_PY says what it sent and what came back). */
  readonly stderr: string;
  /** The unit that ran the code (`{app}.service`, `{app}-blue`, ...). */
  readonly unit: string;
  readonly target: Target;
}

/**
 * What a failed health check says: the request (path and Host), the answer,
 * for a 400 the ALLOWED_HOSTS value to add, and the app's own account of the
 * request, run once through Django in the new release (a traceback for an
 * exception, Django's log lines).
 */
export async function healthCheckError(ctx: StepContext, f: HealthFailure): Promise<UserError> {
  const probe = f.stderr.trim().split("\n").at(-1) ?? "";
  const status = /answered HTTP (\d{3})/.exec(probe)?.[1];
  const d = await ctx.exec.run(healthDiagnosisCommand(ctx, f.target)).catch((err) => ({
    stdout: "",
    stderr: err instanceof Error ? err.message : String(err),
  }));
  // The app's own logging may print on stderr what our handler printed on stdout.
  const out = d.stdout.trimEnd().split("\n").filter((l) => l !== "");
  const err = d.stderr.trimEnd().split("\n")
    .filter((l) => l !== "" && !out.some((o) => o.endsWith(l)));
  const said = [...out, ...err].slice(-40);
  const lines = [`Fix the app on ${ctx.host.name}: the health check failed: ${probe}`];
  const host = JSON.stringify(ctx.host.health_check.host.replace(/:\d+$/, ""));
  const refused = out.some((l) => l.startsWith("ALLOWED_HOSTS = "));
  // Django answered the replayed request itself and ALLOWED_HOSTS took the Host: the 400 is the app's.
  const accepted = !refused && out.some((l) => /^HTTP \d{3}$/.test(l));
  if (refused) {
    lines.push(
      `ALLOWED_HOSTS does not accept the Host the check sends: add ${host} to ALLOWED_HOSTS ` +
        "(or set [health_check] host to a name it accepts).",
    );
  } else if (status === "400" && !accepted) {
    lines.push(
      `A 400 from Django is most often ALLOWED_HOSTS refusing the Host header: add ${host} ` +
        "to ALLOWED_HOSTS (or set [health_check] host to a name it accepts).",
    );
  }
  if (said.length) {
    lines.push(
      `The app's own answer, the same request run once through Django in ${f.target.codeDir}:`,
      ...said.map((l) => `  | ${l}`),
    );
  }
  return new UserError(lines.join("\n"), {
    hint: `See the app's log: journalctl -u ${f.unit} -n 50`,
  });
}

export async function healthCheck(ctx: StepContext, socketPath: string): Promise<void> {
  const cmd = healthCheckCommand(ctx, socketPath);
  if (!cmd) return;
  const r = await ctx.exec.run({ ...cmd, okCodes: [0, 1, 2] });
  if (r.code !== 0) {
    throw await healthCheckError(ctx, {
      stderr: r.stderr,
      unit: ctx.layout.unitName,
      target: target(ctx),
    });
  }
  ctx.log.debug(r.stdout.trim());
}

export const healthCheckStep: Step = {
  name: "health check",
  async run(ctx) {
    if (ctx.shared.get(ALREADY_LIVE)) return;
    await healthCheck(ctx, ctx.layout.socketPath);
    await ctx.hook("after_switch");
  },
};

/** The record of the release this run deployed. */
export function releaseRecord(ctx: StepContext): ReleaseRecord {
  const r = ctx.release!;
  const inputs = ctx.shared.get(DJANGO_INPUTS);
  const live = liveState(ctx);
  return {
    release: r.name,
    commit: r.commit,
    ref: r.ref,
    tree: r.tree,
    venv: ctx.shared.need(VENV),
    python: ctx.host.python_version,
    deployed_at: new Date().toISOString(),
    environment: ctx.env.name,
    version: deployVersion(ctx)?.version,
    static_hash: inputs?.static ?? live?.static_hash,
  };
}

/** The command that writes state.json atomically (and, for slot strategies, the active-slot file). */
export function writeStateCommand(
  ctx: StepContext,
  state: DeployState,
  activeSlot?: Slot,
): RemoteCommand {
  return {
    // Root's records, in root's folder (layout.recordsDir): the app user can
    // neither forge what the next run decides on nor redirect this write.
    argv: shScript(
      'umask 022; mkdir -p "${1%/*}" && cat > "$1.new" && mv -f "$1.new" "$1" && if [ -n "$3" ]; then printf "%s\\n" "$3" > "$2.new" && mv -f "$2.new" "$2"; fi',
      ctx.layout.stateFile,
      ctx.layout.activeSlotFile,
      activeSlot ?? "",
    ),
    as: "root",
    stdin: JSON.stringify(state, null, 2) + "\n",
  };
}

/** Writes state.json atomically (and, for slot strategies, the active-slot file). */
export async function writeState(
  ctx: StepContext,
  state: DeployState,
  activeSlot?: Slot,
): Promise<void> {
  await ctx.exec.run(writeStateCommand(ctx, state, activeSlot));
}

export const recordRelease: Step = {
  name: "record release",
  async run(ctx) {
    if (ctx.shared.get(ALREADY_LIVE)) return;
    await writeState(ctx, { strategy: ctx.host.deployment_strategy, ...releaseRecord(ctx) });
  },
};

/** in_place: after the release is live and recorded, only its venv and the previous one stay. */
export const pruneVenvs: Step = {
  name: "prune virtualenvs",
  async run(ctx) {
    if (ctx.shared.get(ALREADY_LIVE)) return;
    const prune = pruneVenvsCommand(ctx, []);
    if (!prune) return;
    await ctx.exec.run(prune.command);
    ctx.changed(prune.change);
  },
};
