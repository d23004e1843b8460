/**
 * What zero_downtime and bluegreen share: two gunicorn units, {app}-blue and
 * {app}-green, each on its own socket, and nginx's upstream file naming the
 * one that gets traffic. A new release starts in the idle slot and must pass
 * its health check before traffic moves; moving traffic is an atomic write
 * of the upstream file, `nginx -t` and a graceful reload, undone if nginx
 * refuses. The slot that loses traffic is drained before it stops.
 */
import * as remotePath from "../remote_path.ts";
import { note, RUN_ID, type Step, type StepContext } from "../engine/module_api.ts";
import type { FactProbe } from "../host/facts.ts";
import { type ChainResult, displayCommand } from "../exec/executor.ts";
import type { HostConfig } from "../config/types.ts";
import {
  type Layout,
  otherSlot,
  type Slot,
  type SlotLayout,
  slotLayout,
  SLOTS,
} from "../host/layout.ts";
import {
  ALREADY_LIVE,
  deployProbes,
  type DeployState,
  healthCheckCommand,
  healthCheckError,
  LIVE_STATIC,
  liveState,
  liveStaticProbe,
  STATIC_DIR,
  STATIC_SEED,
  type Target,
  writeStateCommand,
} from "../deploy/steps.ts";
import { linkProbe, unitsProbe } from "../host/probes.ts";
import { liveProcessTarget } from "../deploy/live_target.ts";
import {
  type ProcessTarget,
  processUnitFiles,
  processUnitsProbe,
  syncProcessUnits,
} from "../deploy/processes.ts";
import { putFile } from "../host/remote_ops.ts";
import { type PlannedCommand, type RemoteCommand, shScript } from "../exec/remote_command.ts";
import { currentLinkProbe } from "./releases.ts";
import { chainFailure, runChain } from "../exec/chain.ts";
import { gunicornUnit } from "../../templates/systemd_unit.ts";
import { drainConfinement, webConfinement } from "../host/confinement.ts";
import { hardeningProperties } from "../../templates/hardening.ts";
import { DRAIN_AND_STOP_SH, SWITCH_SOCKET_SH } from "../../templates/scripts.ts";
import { exitCodeMeaning, lastLines, UserError } from "../errors.ts";
import { SEED_STATIC_SH, START_UNIT_SH, SWITCH_LINK_SH } from "./programs.gen.ts";

/** Provided by startSlot: the slot units this run started (the facts predate them). */
const STARTED = note<ReadonlySet<string>>("started units");
/** Provided by a switch (switched): where the live socket link points now (the fact predates it). */
const LIVE_SOCKET = note<string>("live socket");
/** Provided by a switch (noteLive): where the processes run now; read by restartOtherServices. */
const LIVE_NOW = note<ProcessTarget>("live now");

/** The app's in_place unit (`{app}.service`), which a slot strategy takes over from. */
export function inPlaceUnit(host: HostConfig): string {
  return `${host.app_name}.service`;
}

export function slotUnitsProbe(host: HostConfig, layout: Layout) {
  const slots = SLOTS.map((s) => slotLayout(host, layout, s).unitName);
  return unitsProbe([...slots, inPlaceUnit(host), layout.slotsBootUnit], "slot-units");
}

/** One transient drain unit systemd still has loaded (pending, running, failed or left over). */
export interface DrainUnit {
  readonly name: string;
  /** The unit it drains and stops (`{app}-{slot}.service`). */
  readonly target: string;
  /** ActiveState: active, activating, deactivating, inactive, failed. */
  readonly active: string;
}

/**
 * The drain units systemd has loaded for the app's slots, whatever their
 * state: each run names its own (drainUnitName), so there may be several,
 * and one left behind by an earlier run (a failed stop, a slow drain, a
 * version of djaploy that reused one fixed name) must be found to be cleared.
 */
export function drainUnitsProbe(host: HostConfig, layout: Layout): FactProbe<DrainUnit[]> {
  const targets = SLOTS.map((s) => slotLayout(host, layout, s).unitName);
  return {
    name: "drain-units",
    argv: [
      "systemctl",
      "list-units",
      "--all",
      "--plain",
      "--no-legend",
      "--no-pager",
      "--type=service",
      "--",
      ...targets.map((t) => `${drainUnitPrefix(t)}*`),
    ],
    parse: (out) => {
      const found: DrainUnit[] = [];
      for (const line of out.split("\n")) {
        // UNIT LOAD ACTIVE SUB DESCRIPTION; a failed or unloadable unit may start with a bullet.
        const words = line.trim().split(/\s+/);
        const [name, , active] = words[0]?.startsWith("djaploy-") ? words : words.slice(1);
        const target = name ? targets.find((t) => isDrainOf(name, t)) : undefined;
        if (target) found.push({ name, target, active: active ?? "unknown" });
      }
      return found;
    },
  };
}

/** Where the live-socket link points. */
export function liveSocketProbe(layout: Layout) {
  return linkProbe("live-socket", layout.liveSocket);
}

export function slotFacts(host: HostConfig, layout: Layout): FactProbe[] {
  return [
    ...deployProbes(host, layout),
    liveSocketProbe(layout),
    slotUnitsProbe(host, layout),
    drainUnitsProbe(host, layout),
    currentLinkProbe(layout),
    ...SLOTS.map((s) => linkProbe(`slot-link:${s}`, slotLayout(host, layout, s).dir)),
    slotStaticProbe(host, layout),
    processUnitsProbe(host),
  ];
}

/** The slots' static folders (shared/staticfiles-{slot}) that exist. */
export function slotStaticProbe(host: HostConfig, layout: Layout): FactProbe<Set<string>> {
  const dirs = SLOTS.map((s) => slotLayout(host, layout, s).staticRoot);
  return {
    name: "slot-static",
    argv: shScript('for d; do [ -d "$d" ] && echo "$d"; done; true', ...dirs),
    parse: (out) => new Set(out.split("\n").filter((d) => dirs.includes(d))),
  };
}

/**
 * The static folder of what `slot` runs: its own, or, for a slot that last
 * started before static files were per slot (djaploy upgraded since, and its
 * folder never made), shared/staticfiles, which the releases of that time
 * shared and which this version never writes for a slot strategy.
 */
export function slotStaticRoot(ctx: StepContext, slot: SlotLayout): string {
  const ownThisRun = ctx.shared.get(STATIC_DIR) === slot.staticRoot;
  return ownThisRun || ctx.facts.get(slotStaticProbe(ctx.host, ctx.layout)).has(slot.staticRoot)
    ? slot.staticRoot
    : ctx.layout.staticRoot;
}

export function slotFiles(host: HostConfig, layout: Layout): string[] {
  return [
    ...SLOTS.map((s) => slotLayout(host, layout, s).unitPath),
    layout.upstreamFile,
    ...processUnitFiles(host),
  ];
}

/** The slot that gets traffic now, if a slot strategy deployed here before. */
export function activeSlot(ctx: StepContext): Slot | undefined {
  // The live link is the truth: a run killed between moving it and writing
  // state.json must not make the next run restart the slot that serves.
  const link = ctx.facts.get(liveSocketProbe(ctx.layout));
  for (const slot of SLOTS) if (link === slotOf(ctx, slot).socketPath) return slot;
  if (link !== undefined) return undefined; // in_place's socket, or something else: no slot serves
  const state = liveState(ctx);
  return state?.slots ? state.active : undefined;
}

/** The idle slot: the one not serving (blue when none serves yet), where a new release starts. */
export function idleSlot(ctx: StepContext): Slot {
  const active = activeSlot(ctx);
  return active ? otherSlot(active) : "blue";
}

export function unitState(ctx: StepContext, unit: string): { enabled: string; active: string } {
  return ctx.facts.get(slotUnitsProbe(ctx.host, ctx.layout)).get(unit) ??
    { enabled: "missing", active: "inactive" };
}

export function slotOf(ctx: StepContext, slot: Slot): SlotLayout {
  return slotLayout(ctx.host, ctx.layout, slot);
}

function slotUnit(ctx: StepContext, s: SlotLayout, venv: string): string {
  const h = ctx.host;
  return gunicornUnit({
    appName: `${h.app_name} (${s.slot})`,
    appUser: h.app_user,
    workingDirectory: remotePath.join(s.dir, ctx.layout.manageRel),
    envFile: ctx.layout.envFile,
    runtimeDirectory: remotePath.basename(s.runtimeDir),
    python: remotePath.join(venv, "bin", "python"),
    socketPath: s.socketPath,
    staticRoot: s.staticRoot,
    wsgiModule: h.gunicorn.wsgi_module,
    workers: h.gunicorn.workers,
    timeout: h.gunicorn.timeout,
    preload: h.gunicorn.preload_app,
    extraArgs: h.gunicorn.extra_args,
    confinement: webConfinement(h, ctx.layout),
  });
}

/** The code and Python a slot runs. */
export function slotTarget(ctx: StepContext, s: SlotLayout, venv: string): Target {
  return {
    codeDir: s.dir,
    manageDir: remotePath.join(s.dir, ctx.layout.manageRel),
    python: remotePath.join(venv, "bin", "python"),
    staticRoot: s.staticRoot,
  };
}

/**
 * (Re)starts a slot on its code and venv, then health-checks it over its own
 * socket, in one round trip after `before` (e.g. pointing the slot at its
 * release). Drains of this slot still pending from an earlier run are
 * cancelled first (one would stop the slot this run starts), and any left
 * loaded are cleared. When collectstatic was skipped (STATIC_SEED), the
 * slot's static folder first becomes hard links to the live one's files.
 * A slot that fails is stopped again: it never gets traffic.
 */
export async function startSlot(
  ctx: StepContext,
  s: SlotLayout,
  venv: string,
  before: readonly RemoteCommand[] = [],
): Promise<void> {
  const wrote = await putFile(ctx, { path: s.unitPath, content: slotUnit(ctx, s, venv) });
  const health = healthCheckCommand(ctx, s.socketPath);
  const seed = ctx.shared.get(STATIC_SEED);
  const cmds: RemoteCommand[] = [
    ...(seed?.to === s.staticRoot ? [seedStaticCommand(ctx, seed.from, seed.to)] : []),
    ...before,
    ...(wrote ? [{ argv: ["systemctl", "daemon-reload"], as: "root" }] : []),
    ...clearDrainsCommands(ctx, s.unitName),
    // A start that fails at systemd's CGROUP step is tried again on the host (start_unit.sh).
    { argv: shScript(START_UNIT_SH, s.unitName), as: "root" },
    ...(health ? [health] : []),
  ];
  const restart = cmds.length - (health ? 2 : 1);
  // Every command names its user: the shell that holds the lock runs the chain.
  const r = await runChain(ctx.exec, cmds, { check: false, root: true });
  // The retry lines are shown once, as info; the rest of the output only under -v.
  const retried = cgroupRetryLine(s.unitName);
  const lines = r.stdout.split("\n");
  for (const line of lines) if (line === retried) ctx.log.info(line);
  const rest = lines.filter((line) => line !== retried).join("\n").trim();
  if (r.failed !== undefined && r.failed < restart) throw chainFailure(ctx.exec, cmds, r);
  if (r.failed !== undefined) {
    await ctx.exec.run({ argv: ["systemctl", "stop", s.unitName], as: "root", okCodes: [0, 1, 5] });
    if (r.failed > restart) {
      throw await healthCheckError(ctx, {
        stderr: r.stderr,
        unit: s.unitName,
        target: slotTarget(ctx, s, venv),
      });
    }
    throw new UserError(`Fix the app on ${ctx.host.name}: ${s.unitName} did not start`, {
      hint: `See its log: journalctl -u ${s.unitName} -n 50`,
    });
  }
  if (rest) ctx.log.debug(rest);
  ctx.shared.set(STARTED, new Set([...ctx.shared.get(STARTED) ?? [], s.unitName]));
  ctx.changed(`started ${s.unitName}`);
}

/** The line start_unit.sh prints before it starts `unit` again after a CGROUP failure. */
export function cgroupRetryLine(unit: string): string {
  return `${unit} failed at systemd's CGROUP step right after a stop: starting again`;
}

/**
 * The command that makes `to` (an idle slot's static folder) hard links to
 * the files of `from` (the live one), as the app user: cheap, and nothing
 * writes them afterwards (a later collectstatic into `to` starts from a copy).
 */
export function seedStaticCommand(ctx: StepContext, from: string, to: string): RemoteCommand {
  return { argv: shScript(SEED_STATIC_SH, from, to), as: ctx.host.app_user };
}

/** What serves: the socket nginx connects to and the folder it serves /static/ from. */
export interface LiveTarget {
  readonly socketPath: string;
  readonly staticRoot: string;
}

/**
 * The command that points root's live links at a slot's (or in_place's)
 * socket and static folder, in one root command: the static link first, then
 * the socket (atomic each, no nginx reload). New connections go to the new
 * code, and nginx serves its static files. Undefined when both already point
 * there. Whoever runs it calls `switched` once it ran.
 */
export function switchTrafficCommand(
  ctx: StepContext,
  to: LiveTarget,
): PlannedCommand | undefined {
  const live = ctx.shared.get(LIVE_SOCKET) ?? ctx.facts.get(liveSocketProbe(ctx.layout));
  const liveStatic = ctx.shared.get(LIVE_STATIC) ?? ctx.facts.get(liveStaticProbe(ctx.layout));
  const args = [
    ...(liveStatic === to.staticRoot ? [] : [ctx.layout.liveStatic, to.staticRoot]),
    ...(live === to.socketPath ? [] : [ctx.layout.liveSocket, to.socketPath]),
  ];
  if (args.length === 0) return undefined;
  return {
    command: { argv: shScript(SWITCH_SOCKET_SH, ...args), as: "root" },
    change: live === to.socketPath
      ? `static files -> ${to.staticRoot}`
      : `traffic -> ${to.socketPath}`,
  };
}

/** After a switch to `to` ran: later switches of this run start from there. */
export function switched(ctx: StepContext, to: LiveTarget): void {
  ctx.shared.set(LIVE_SOCKET, to.socketPath);
  ctx.shared.set(LIVE_STATIC, to.staticRoot);
}

export function isCommand<C extends PlannedCommand | RemoteCommand>(c: C | undefined): c is C {
  return c !== undefined;
}

/** A command that changes nothing worth reporting on its own, as a planned one. */
export function planned(command: RemoteCommand | undefined): PlannedCommand | undefined {
  return command && { command };
}

/** Reports what the commands of `done`, which ran, changed. */
export function reportChanges(ctx: StepContext, done: readonly PlannedCommand[]): void {
  for (const p of done) if (p.change) ctx.changed(p.change);
}

/** Taking over from in_place: its unit no longer starts at boot ({app}-slots.service starts the live slot). */
function retireInPlaceAtBoot(ctx: StepContext): PlannedCommand | undefined {
  if (unitState(ctx, inPlaceUnit(ctx.host)).enabled !== "enabled") return undefined;
  return {
    command: { argv: ["systemctl", "disable", "--quiet", inPlaceUnit(ctx.host)], as: "root" },
  };
}

function drainUnitPrefix(unit: string): string {
  return `djaploy-drain-${unit.replace(/\.service$/, "")}`;
}

/** Whether `name` is a drain unit of `unit`: this run's kind (with a run id) or the old fixed name. */
function isDrainOf(name: string, unit: string): boolean {
  const prefix = drainUnitPrefix(unit);
  return name === `${prefix}.service` ||
    (name.startsWith(`${prefix}-`) && /^r[0-9a-z]+\.service$/.test(name.slice(prefix.length + 1)));
}

/**
 * The transient unit that drains and stops `unit` in the background, named
 * for this run (`runId`): systemd may keep an earlier one loaded (a failed
 * stop, a drain still waiting), and a fixed name would then refuse to start.
 */
export function drainUnitName(unit: string, runId: string): string {
  return `${drainUnitPrefix(unit)}-${runId}.service`;
}

/**
 * Before `unit` starts: stops its drains still pending or running (one would
 * stop it) and clears those systemd keeps loaded (failed, or left behind).
 */
export function clearDrainsCommands(ctx: StepContext, unit: string): RemoteCommand[] {
  const drains = ctx.facts.get(drainUnitsProbe(ctx.host, ctx.layout)).filter((d) =>
    d.target === unit
  );
  if (drains.length === 0) return [];
  const names = drains.map((d) => d.name);
  return [
    // 5: gone meanwhile (--collect).
    { argv: ["systemctl", "stop", "--", ...names], as: "root", okCodes: [0, 5] },
    // Not failed, or gone: nothing to clear.
    { argv: ["systemctl", "reset-failed", "--", ...names], as: "root", okCodes: [0, 1, 5] },
  ];
}

/**
 * The command that stops a unit once nginx's previous workers have finished
 * with it, in the background (a transient systemd unit): traffic has already
 * moved, so the deploy does not wait. startSlot cancels a pending drain
 * before reusing a slot.
 */
export function drainCommand(ctx: StepContext, unit: string, socket: string): PlannedCommand {
  return { command: drainUnitCommand(ctx, unit, socket), change: `stopping ${unit}` };
}

function drainUnitCommand(ctx: StepContext, unit: string, socket: string): RemoteCommand {
  return {
    argv: [
      "systemd-run",
      "--quiet",
      "--collect",
      // Queued, not awaited: the deploy has nothing to wait for.
      "--no-block",
      `--unit=${drainUnitName(unit, ctx.shared.need(RUN_ID))}`,
      ...hardeningProperties("drain", drainConfinement(ctx.host)),
      ...shScript(DRAIN_AND_STOP_SH, unit, socket, ctx.layout.liveSocket),
    ],
    as: "root",
  };
}

/** The command that points a link at a target atomically; a real folder in its place is moved aside first. */
export function pointLinkCommand(ctx: StepContext, link: string, dest: string): RemoteCommand {
  return {
    argv: shScript(
      SWITCH_LINK_SH,
      link,
      dest,
    ),
    as: ctx.host.app_user,
  };
}

/** The command that writes state.json (and active-slot, which boot reads) with one slot's record changed. */
export function recordSlotsCommand(
  ctx: StepContext,
  next: Omit<DeployState, "strategy">,
): RemoteCommand {
  return writeStateCommand(ctx, { strategy: ctx.host.deployment_strategy, ...next }, next.active);
}

/** The other services (workers) of the app: everything in `services` but the web unit slots replace. */
export function otherServices(host: HostConfig): string[] {
  return host.services.filter((s) => s !== host.app_name && s !== inPlaceUnit(host));
}

/** The live slot's unit, if a slot serves and its unit is up: what already-live asks of a slot strategy. */
export function liveSlotUp(ctx: StepContext): boolean {
  const active = activeSlot(ctx);
  return active !== undefined && unitState(ctx, slotOf(ctx, active).unitName).active === "active";
}

/**
 * After a switch to `live`: what else served the app stops once drained
 * (the other slot, unless `keepOtherSlot`, and an in_place unit this
 * strategy took over from), and boot starts the live slot only. Returns the
 * commands that do it.
 */
export function retireOthers(
  ctx: StepContext,
  live: Slot,
  opts: { keepOtherSlot?: boolean } = {},
): PlannedCommand[] {
  const other = slotOf(ctx, otherSlot(live));
  const candidates: [string, string][] = [[inPlaceUnit(ctx.host), ctx.layout.socketPath]];
  if (!opts.keepOtherSlot) candidates.push([other.unitName, other.socketPath]);
  const cmds: PlannedCommand[] = [];
  for (const [unit, socket] of candidates) {
    // A unit stopped by this run's own earlier steps is not in the facts; ask nothing twice.
    if (unitState(ctx, unit).active === "active" || ctx.shared.get(STARTED)?.has(unit)) {
      cmds.push(drainCommand(ctx, unit, socket));
    }
  }
  return [...cmds, retireInPlaceAtBoot(ctx)].filter(isCommand);
}

/** Where the app's processes run after this run: what it switched to, or what is live. */
function processTarget(ctx: StepContext): ProcessTarget | undefined {
  return ctx.shared.get(LIVE_NOW) ??
    liveProcessTarget(ctx.host, ctx.layout, liveState(ctx));
}

/** Records what traffic moved to, for restartOtherServices: the processes follow it. */
export function noteLive(ctx: StepContext, codeDir: string, venv: string): void {
  ctx.shared.set(LIVE_NOW, { manageDir: remotePath.join(codeDir, ctx.layout.manageRel), venv });
}

/**
 * Restarts the app's other services (workers): everything in `services` the
 * slots do not replace, and the `[processes]`, whose units (with the
 * `[[schedule]]` timers') are first written for the code that is live now.
 * Once traffic moved (noteLive), every process restarts; otherwise (a
 * bluegreen deploy only staged) only those whose unit changed.
 */
export const restartOtherServices: Step = {
  name: "restart other services",
  async run(ctx) {
    const live = processTarget(ctx);
    const procs = live ? await syncProcessUnits(ctx, live) : { changed: [], all: [] };
    const others = ctx.shared.get(ALREADY_LIVE) ? [] : otherServices(ctx.host);
    const restart = [
      ...others,
      ...(ctx.shared.has(LIVE_NOW) ? procs.all : procs.changed),
    ];
    if (restart.length === 0) return;
    await ctx.exec.run({ argv: ["systemctl", "restart", ...restart], as: "root" });
    ctx.changed(`restarted ${restart.join(", ")}`);
  },
};

/**
 * The switch, in one round trip: `records` (the command that moves traffic,
 * then those that record what is live) and then `cleanup` (drains, pruning).
 * A failure among `records` fails the step (`failure` makes its error).
 * Once they ran, traffic has moved and the records say so: the deploy has
 * succeeded, and a cleanup command that fails is a warning, after which the
 * rest of the cleanup still runs (one more round trip, only then).
 */
export async function switchAndCleanUp(
  ctx: StepContext,
  records: readonly PlannedCommand[],
  cleanup: readonly PlannedCommand[],
  failure: (r: ChainResult, cmds: readonly RemoteCommand[]) => Error | Promise<Error> = (
    r,
    cmds,
  ) => chainFailure(ctx.exec, cmds, r),
): Promise<void> {
  let planned = [...records, ...cleanup];
  let cmds = planned.map((p) => p.command);
  // One root command (links, records, queued drains, pruning): the shell that holds the lock
  // runs it, when there is one.
  const r = await runChain(ctx.exec, cmds, { check: false, root: true });
  if (r.failed !== undefined && r.failed < records.length) throw await failure(r, cmds);
  let failed: ChainResult = r;
  for (;;) {
    // What ran before the failure (or all of it) changed the host.
    reportChanges(ctx, planned.slice(0, failed.failed ?? planned.length));
    if (failed.failed === undefined) return;
    warnCleanup(ctx, cmds[failed.failed], failed);
    planned = planned.slice(failed.failed + 1);
    cmds = cmds.slice(failed.failed + 1);
    if (cmds.length === 0) return;
    failed = await runChain(ctx.exec, cmds, { check: false, root: true }).catch((err) => {
      ctx.log.warn(`cleanup after the switch did not finish: ${errorText(err)}`);
      // Whether the rest ran is unknown: nothing more is reported.
      planned = [];
      return { code: 0, stdout: "", stderr: "", ms: 0 };
    });
  }
}

function warnCleanup(ctx: StepContext, cmd: RemoteCommand, r: ChainResult): void {
  const code = r.failedCode ?? r.code;
  const tail = lastLines(r.stderr, 3).replace(/\s*\n\s*/g, " / ");
  ctx.log.warn(
    `nothing to redo: the new release serves and the records say so; the next deploy retries what cleanup failed: ${
      displayCommand(cmd, ctx.exec.sshUser)
    }: exit code ${code} (${exitCodeMeaning(code)})${tail ? `: ${tail}` : ""}`,
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.split("\n")[0] : String(err);
}
