/**
 * zero_downtime: every deploy is a new, immutable folder in releases/,
 * started in the idle slot next to the live one. Only when it answers its
 * health check does nginx switch to it (a graceful reload: no request is
 * refused or reset), `current` moves atomically, and the previous slot is
 * drained and stopped. A release that fails never gets traffic.
 */
import { posix } from "node:path";
import type { Step, StepContext } from "../module.ts";
import type { Strategy } from "./strategy.ts";
import type { FactProbe } from "../facts.ts";
import type { Layout } from "../layout.ts";
import { otherSlot, type Slot, type SlotLayout } from "../layout.ts";
import { shScript } from "../remote_command.ts";
import {
  checkConfigured,
  dependencies,
  liveState,
  migrateAndCollectstatic,
  pruneVenvsCommand,
  type ReleaseRecord,
  releaseRecord,
  setTarget,
  target,
} from "../deploy_steps.ts";
import {
  activeSlot,
  isCommand,
  noteLive,
  pointLinkCommand,
  recordSlotsCommand,
  restartOtherServices,
  retireOthers,
  sayAlreadyLive,
  slotAlreadyLive,
  slotFacts,
  slotFiles,
  slotOf,
  startSlot,
  switchAndCleanUp,
  switchTrafficCommand,
} from "./slots.ts";
import type { RemoteCommand } from "../remote_command.ts";
import type { HostConfig } from "../config/types.ts";
import { writeVersionFile } from "../version_file.ts";

/** One release folder as the host has it. */
export interface ReleaseEntry {
  readonly name: string;
  readonly failed: boolean;
  /** The record written when it passed its health check. */
  readonly record?: Record<string, unknown>;
}

export function releasesProbe(layout: Layout): FactProbe<ReleaseEntry[]> {
  return {
    name: "releases",
    argv: shScript(
      `for d in "$1"/*/; do [ -d "$d" ] || continue; n=\${d%/}; n=\${n##*/}
if [ -f "$d.djaploy-failed" ]; then printf '%s\\tfailed\\n' "$n"
else printf '%s\\t%s\\n' "$n" "$(tr -d '\\n' < "$d.djaploy-release.json" 2>/dev/null)"; fi; done; true`,
      layout.releasesDir,
    ),
    parse: (out) =>
      out.split("\n").filter(Boolean).map((line) => {
        const [name, rest = ""] = line.split("\t");
        // A release gets its record only when it goes live: one without a
        // record failed, or its deploy was cut short. It never counts as good.
        if (rest === "failed" || rest === "") return { name, failed: true };
        try {
          return { name, failed: false, record: JSON.parse(rest) };
        } catch {
          return { name, failed: true };
        }
      }).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function facts(host: HostConfig, layout: Layout): FactProbe[] {
  return [...slotFacts(host, layout), releasesProbe(layout)];
}

/** The release `current` points at, if any. */
export function currentRelease(ctx: StepContext): string | undefined {
  const link = ctx.facts.get(
    slotFacts(ctx.host, ctx.layout).find((p) => p.name === "current-link")!,
  );
  return typeof link === "string" ? posix.basename(link) : undefined;
}

const newRelease: Step = {
  name: "new release",
  async run(ctx) {
    const live = liveState(ctx);
    const releases = ctx.facts.get(releasesProbe(ctx.layout));
    const current = currentRelease(ctx);
    // The same code as the live release: reuse its folder (config may still have changed).
    if (
      !ctx.force && live?.tree === ctx.release!.tree && current &&
      releases.some((r) => r.name === current)
    ) {
      setTarget(ctx, posix.join(ctx.layout.releasesDir, current));
      ctx.notes.set("releaseName", current);
      await writeVersionFile(ctx, posix.join(ctx.layout.releasesDir, current));
      return;
    }
    const name = ctx.release!.name;
    const dir = posix.join(ctx.layout.releasesDir, name);
    setTarget(ctx, dir);
    ctx.notes.set("releaseName", name);
    const { changed } = await ctx.exec.sync({
      source: ctx.release!.artifactDir,
      dest: dir,
      as: ctx.host.app_user,
      delete: true,
      // Files equal to the live release's are hard links, not copies. An absolute path: rsync
      // receivers with the CVE-2024-12086 fix refuse a "../" basis, and a changed file sent as
      // a delta against it then fails verification (RsyncProject/rsync#928).
      linkDest: current ? posix.join(ctx.layout.releasesDir, current) : undefined,
    });
    ctx.changed(`releases/${name} (${changed.length} new or changed)`);
    await writeVersionFile(ctx, dir);
    const shared = ctx.host.shared_resources;
    if (shared.length) await linkShared(ctx, dir, shared);
  },
};

/** Links project paths that must survive deploys (uploads) to shared/. */
export async function linkShared(
  ctx: StepContext,
  dir: string,
  paths: readonly string[],
): Promise<void> {
  await ctx.exec.run({
    argv: shScript(
      `set -e
dir=$1 shared=$2; shift 2
for p; do
  mkdir -p "$shared/$p"
  if [ -e "$dir/$p" ] && [ ! -L "$dir/$p" ] && [ -n "$(ls -A "$dir/$p" 2>/dev/null)" ]; then cp -an "$dir/$p/." "$shared/$p/"; fi
  rm -rf "$dir/$p"; mkdir -p "$(dirname "$dir/$p")"; ln -s "$shared/$p" "$dir/$p"
done`,
      dir,
      ctx.layout.sharedDir,
      ...paths,
    ),
    as: ctx.host.app_user,
  });
}

/** The idle slot: the one not serving (blue when none serves yet). */
function idleSlot(ctx: StepContext): Slot {
  const active = activeSlot(ctx);
  return active ? otherSlot(active) : "blue";
}

const startNew: Step = {
  name: "start new release",
  async run(ctx) {
    if (slotAlreadyLive(ctx)) return sayAlreadyLive(ctx);
    const slot = slotOf(ctx, idleSlot(ctx));
    const dir = target(ctx).codeDir;
    const link = pointLinkCommand(ctx, slot.dir, posix.relative(posix.dirname(slot.dir), dir));
    try {
      await startSlot(ctx, slot, ctx.notes.get("venv") as string, [link]);
    } catch (err) {
      if (dir !== posix.join(ctx.layout.releasesDir, currentRelease(ctx) ?? "")) {
        await ctx.exec.run({
          argv: ["touch", posix.join(dir, ".djaploy-failed")],
          as: ctx.host.app_user,
        });
      }
      throw err;
    }
  },
};

/**
 * Sends traffic to `slot`, which runs the release in `dir`, and in the same
 * round trip records it as live (root's state.json first, then `current`
 * and `records`), before anything that may fail: then what served before
 * drains and stops, and `cleanup` runs. A failed cleanup is a warning
 * (switchAndCleanUp): the new release serves and the records say so.
 */
export async function goLive(
  ctx: StepContext,
  slot: SlotLayout,
  dir: string,
  record: ReleaseRecord & { activated_at: string },
  extra: { records?: readonly RemoteCommand[]; cleanup?: readonly RemoteCommand[] } = {},
): Promise<void> {
  const before = activeSlot(ctx);
  const slots = { ...(liveState(ctx)?.slots ?? {}) };
  if (before && slots[before]) slots[before] = { ...slots[before]!, state: "stopped" };
  slots[slot.slot] = { ...record, state: "active" };
  await switchAndCleanUp(
    ctx,
    [
      // As root (one sudo): traffic moves, and root's record says so.
      switchTrafficCommand(ctx, slot.socketPath),
      recordSlotsCommand(ctx, { ...record, active: slot.slot, slots }),
    ].filter(isCommand),
    [
      // As the app user, in the app's folder: what rollback and `releases` read. Traffic has
      // moved by now, so a failure here (a full disk) is a warning like the cleanup's, not a
      // failed deploy whose records say the old release serves.
      ...extra.records ?? [],
      pointLinkCommand(ctx, ctx.layout.currentLink, posix.relative(ctx.layout.appDir, dir)),
      ...retireOthers(ctx, slot.slot),
      ...extra.cleanup ?? [],
    ].filter(isCommand),
  );
  ctx.changed(`current -> releases/${posix.basename(dir)}`);
  // The processes run in `current`, which now links this release.
  noteLive(ctx, ctx.layout.currentLink, record.venv);
}

const switchToNew: Step = {
  name: "switch traffic",
  async run(ctx) {
    if (ctx.notes.get("alreadyLive")) return;
    const slot = slotOf(ctx, idleSlot(ctx));
    const dir = target(ctx).codeDir;
    const record = {
      ...releaseRecord(ctx),
      release: posix.basename(dir),
      activated_at: new Date().toISOString(),
    };
    await goLive(ctx, slot, dir, record, {
      // The release's own record: what rollback and `releases` read.
      records: [{
        argv: shScript('cat > "$1/.djaploy-release.json"', dir),
        as: ctx.host.app_user,
        stdin: JSON.stringify(record) + "\n",
      }],
      cleanup: [...pruneCommands(ctx)].filter(isCommand),
    });
  },
};

/** Which releases to delete: beyond keep_releases good ones, and failed ones; never the live or previous one. */
export function releasesToPrune(
  releases: readonly ReleaseEntry[],
  keep: number,
  protect: ReadonlySet<string>,
): string[] {
  const good = releases.filter((r) => !r.failed).map((r) => r.name).sort().reverse();
  const kept = new Set(good.slice(0, keep));
  return releases.map((r) => r.name).filter((n) => !kept.has(n) && !protect.has(n));
}

/**
 * The commands that delete old releases (see releasesToPrune), once the new
 * one is live, and the virtualenvs no kept release uses.
 */
function pruneCommands(ctx: StepContext): (RemoteCommand | undefined)[] {
  const entries = ctx.facts.get(releasesProbe(ctx.layout));
  const cmd = pruneCommand(ctx);
  const gone = new Set(cmd ? cmd.argv.slice(3).map((p) => posix.basename(p)) : []);
  const keptVenvs = entries
    .filter((r) => !gone.has(r.name))
    .map((r) => typeof r.record?.venv === "string" ? r.record.venv : undefined);
  // The slots are links to releases: what they run is among the kept releases' venvs.
  return [cmd, pruneVenvsCommand(ctx, keptVenvs)];
}

/** The command that deletes old releases (see releasesToPrune), once the new one is live. */
function pruneCommand(ctx: StepContext): RemoteCommand | undefined {
  const live = posix.basename(target(ctx).codeDir);
  const releases = [
    ...ctx.facts.get(releasesProbe(ctx.layout)).filter((r) => r.name !== live),
    { name: live, failed: false },
  ];
  const previous = currentRelease(ctx);
  // What root's record names as live: `current` and the release's own record may lag behind
  // it (written after the switch, they can fail on a full disk).
  const recorded = liveState(ctx)?.release;
  const protect = new Set([live, previous ?? "", typeof recorded === "string" ? recorded : ""]);
  const gone = releasesToPrune(releases, ctx.host.keep_releases, protect);
  if (gone.length === 0) return undefined;
  ctx.changed(`removed ${gone.length} old release${gone.length === 1 ? "" : "s"}`);
  return {
    argv: ["rm", "-rf", "--", ...gone.map((n) => posix.join(ctx.layout.releasesDir, n))],
    as: ctx.host.app_user,
  };
}

export const zeroDowntime: Strategy = {
  name: "zero_downtime",
  facts,
  files: slotFiles,
  plan: (phase) => [
    checkConfigured,
    newRelease,
    ...phase("deploy:upload"),
    ...phase("deploy:configure"),
    dependencies,
    migrateAndCollectstatic,
    ...phase("deploy:pre"),
    startNew,
    switchToNew,
    restartOtherServices,
    ...phase("deploy:start"),
  ],
};
