/**
 * zero_downtime: every deploy is a new, immutable folder in releases/,
 * started in the idle slot next to the live one. Only when it answers its
 * health check does nginx switch to it (a graceful reload: no request is
 * refused or reset), `current` moves atomically, and the previous slot is
 * drained and stopped. A release that fails never gets traffic.
 *
 * Static files: each slot has its own folder (shared/staticfiles-{slot}); a
 * deploy fills only the idle slot's, and nginx's live-static link moves to it
 * with traffic, so a deploy that stops anywhere leaves the live release's
 * files and manifest untouched.
 *
 * rollback: the previous good release (or --release NAME) starts in the
 * idle slot with its own virtualenv; its static files are collected again
 * into that slot's folder, and traffic switches only once it answers.
 * Migrations are never run backwards.
 */
import * as remotePath from "../remote_path.ts";
import type { Step, StepContext } from "../engine/module_api.ts";
import type { Strategy } from "./strategy.ts";
import type { FactProbe } from "../host/facts.ts";
import type { Layout, SlotLayout } from "../host/layout.ts";
import { type PlannedCommand, shScript } from "../exec/remote_command.ts";
import {
  ALREADY_LIVE,
  checkConfigured,
  dependencies,
  liveState,
  liveStaticDir,
  migrateAndCollectstatic,
  noteIfAlreadyLive,
  pruneVenvsCommand,
  type ReleaseRecord,
  releaseRecord,
  runDjangoTasks,
  setStaticDir,
  setTarget,
  target,
  VENV,
} from "../deploy/steps.ts";
import {
  activeSlot,
  idleSlot,
  isCommand,
  liveSlotUp,
  noteLive,
  planned,
  pointLinkCommand,
  recordSlotsCommand,
  restartOtherServices,
  retireOthers,
  slotFacts,
  slotFiles,
  slotOf,
  startSlot,
  switchAndCleanUp,
  switched,
  switchTrafficCommand,
} from "./slots.ts";
import { currentRelease, linkShared, type ReleaseEntry, releasesProbe } from "./releases.ts";
import { strategyTraits } from "./traits.ts";
import type { HostConfig } from "../config/types.ts";
import { UserError } from "../errors.ts";
import { writeVersionFile } from "../deploy/version_file.ts";

function facts(host: HostConfig, layout: Layout): FactProbe[] {
  return [...slotFacts(host, layout), releasesProbe(layout)];
}

const newRelease: Step = {
  name: "new release",
  async run(ctx) {
    setStaticDir(ctx, slotOf(ctx, idleSlot(ctx)).staticRoot);
    const live = liveState(ctx);
    const releases = ctx.facts.get(releasesProbe(ctx.layout));
    const current = currentRelease(ctx);
    // The same code as the live release: reuse its folder (config may still have changed).
    if (
      !ctx.force && live?.tree === ctx.release!.tree && current &&
      releases.some((r) => r.name === current)
    ) {
      setTarget(ctx, remotePath.join(ctx.layout.releasesDir, current));
      await writeVersionFile(ctx, remotePath.join(ctx.layout.releasesDir, current));
      return;
    }
    const name = ctx.release!.name;
    const dir = remotePath.join(ctx.layout.releasesDir, name);
    setTarget(ctx, dir);
    const { changed } = await ctx.exec.sync({
      source: ctx.release!.artifactDir,
      dest: dir,
      as: ctx.host.app_user,
      delete: true,
      // Files equal to the live release's are hard links, not copies. An absolute path: rsync
      // receivers with the CVE-2024-12086 fix refuse a "../" basis, and a changed file sent as
      // a delta against it then fails verification (RsyncProject/rsync#928).
      linkDest: current ? remotePath.join(ctx.layout.releasesDir, current) : undefined,
    });
    ctx.changed(`releases/${name} (${changed.length} new or changed)`);
    await writeVersionFile(ctx, dir);
    const shared = ctx.host.shared_resources;
    if (shared.length) await linkShared(ctx, dir, shared);
  },
};

const startNew: Step = {
  name: "start new release",
  async run(ctx) {
    if (noteIfAlreadyLive(ctx, liveSlotUp)) return;
    const slot = slotOf(ctx, idleSlot(ctx));
    const dir = target(ctx).codeDir;
    const link = pointLinkCommand(
      ctx,
      slot.dir,
      remotePath.relative(remotePath.dirname(slot.dir), dir),
    );
    try {
      await startSlot(ctx, slot, ctx.shared.need(VENV), [link]);
    } catch (err) {
      if (dir !== remotePath.join(ctx.layout.releasesDir, currentRelease(ctx) ?? "")) {
        await ctx.exec.run({
          argv: ["touch", remotePath.join(dir, ".djaploy-failed")],
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
  extra: { records?: readonly PlannedCommand[]; cleanup?: readonly PlannedCommand[] } = {},
): Promise<void> {
  const before = activeSlot(ctx);
  const slots = { ...(liveState(ctx)?.slots ?? {}) };
  if (before && slots[before]) slots[before] = { ...slots[before]!, state: "stopped" };
  slots[slot.slot] = { ...record, state: "active" };
  await ctx.hook("before_switch");
  await switchAndCleanUp(
    ctx,
    [
      // As root (one sudo): traffic moves, and root's record says so.
      switchTrafficCommand(ctx, slot),
      planned(recordSlotsCommand(ctx, { ...record, active: slot.slot, slots })),
    ].filter(isCommand),
    [
      // As the app user, in the app's folder: what rollback and `releases` read. Traffic has
      // moved by now, so a failure here (a full disk) is a warning like the cleanup's, not a
      // failed deploy whose records say the old release serves.
      ...extra.records ?? [],
      planned(
        pointLinkCommand(ctx, ctx.layout.currentLink, remotePath.relative(ctx.layout.appDir, dir)),
      ),
      ...retireOthers(ctx, slot.slot),
      ...extra.cleanup ?? [],
    ].filter(isCommand),
  );
  switched(ctx, slot);
  ctx.changed(`current -> releases/${remotePath.basename(dir)}`);
  // The processes run in `current`, which now links this release.
  noteLive(ctx, ctx.layout.currentLink, record.venv);
  await ctx.hook("after_switch");
}

const switchToNew: Step = {
  name: "switch traffic",
  async run(ctx) {
    if (ctx.shared.get(ALREADY_LIVE)) return;
    const slot = slotOf(ctx, idleSlot(ctx));
    const dir = target(ctx).codeDir;
    const record = {
      ...releaseRecord(ctx),
      release: remotePath.basename(dir),
      activated_at: new Date().toISOString(),
    };
    await goLive(ctx, slot, dir, record, {
      // The release's own record: what rollback and `releases` read.
      records: [{
        command: {
          argv: shScript('cat > "$1/.djaploy-release.json"', dir),
          as: ctx.host.app_user,
          stdin: JSON.stringify(record) + "\n",
        },
      }],
      cleanup: pruneCommands(ctx).filter(isCommand),
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
function pruneCommands(ctx: StepContext): (PlannedCommand | undefined)[] {
  const entries = ctx.facts.get(releasesProbe(ctx.layout));
  const cmd = pruneCommand(ctx);
  const gone = new Set(cmd ? cmd.command.argv.slice(3).map((p) => remotePath.basename(p)) : []);
  const keptVenvs = entries
    .filter((r) => !gone.has(r.name))
    .map((r) => typeof r.record?.venv === "string" ? r.record.venv : undefined);
  // The slots are links to releases: what they run is among the kept releases' venvs.
  return [cmd, pruneVenvsCommand(ctx, keptVenvs)];
}

/** The command that deletes old releases (see releasesToPrune), once the new one is live. */
function pruneCommand(ctx: StepContext): PlannedCommand | undefined {
  const live = remotePath.basename(target(ctx).codeDir);
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
  return {
    command: {
      argv: ["rm", "-rf", "--", ...gone.map((n) => remotePath.join(ctx.layout.releasesDir, n))],
      as: ctx.host.app_user,
    },
    change: `removed ${gone.length} old release${gone.length === 1 ? "" : "s"}`,
  };
}

/** `rollback`: to the release named `wanted`, or the good one before the live one. */
export function releaseRollbackStep(wanted: string | undefined): Step {
  return {
    name: "rollback",
    async run(ctx) {
      const releases = ctx.facts.get(releasesProbe(ctx.layout));
      const current = currentRelease(ctx);
      const good = releases.filter((r) => !r.failed && r.record && r.name !== current);
      const chosen = wanted
        ? releases.find((r) => r.name === wanted)
        : good.filter((r) => !current || r.name < current).pop();
      if (!chosen) {
        throw new UserError(
          wanted
            ? `Choose a release that exists on ${ctx.host.name}: "${wanted}" is not in releases/`
            : `Cannot roll back on ${ctx.host.name}: no earlier good release is kept`,
          {
            hint: `Kept: ${
              releases.map((r) => `${r.name}${r.failed ? " (failed)" : ""}`).join(", ") || "none"
            }`,
          },
        );
      }
      if (chosen.failed || !chosen.record) {
        throw new UserError(
          `Choose another release: ${chosen.name} on ${ctx.host.name} never passed its health check`,
        );
      }
      if (chosen.name === current) {
        throw new UserError(`Nothing to do: ${chosen.name} is live on ${ctx.host.name}`);
      }
      const record = chosen.record as Record<string, string>;
      const dir = remotePath.join(ctx.layout.releasesDir, chosen.name);
      setTarget(ctx, dir);
      ctx.shared.set(VENV, record.venv);
      const slot = slotOf(ctx, idleSlot(ctx));
      setStaticDir(ctx, slot.staticRoot);
      // Into the idle slot's folder, from a copy of the live one: the live files never change.
      await runDjangoTasks(ctx, {
        migrate: false,
        collectstatic: true,
        seedFrom: liveStaticDir(ctx),
      });
      const link = pointLinkCommand(
        ctx,
        slot.dir,
        remotePath.relative(remotePath.dirname(slot.dir), dir),
      );
      await startSlot(ctx, slot, record.venv, [link]);
      const next = {
        ...(record as unknown as ReleaseRecord),
        activated_at: new Date().toISOString(),
      };
      await goLive(ctx, slot, dir, next);
      await restartOtherServices.run(ctx);
    },
  };
}

export const zeroDowntime: Strategy = {
  ...strategyTraits({ deployment_strategy: "zero_downtime" }),
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
  activate: (host) => {
    throw new UserError(
      `Use activate with bluegreen only: ${host.name} deploys with zero_downtime, which goes live on deploy`,
    );
  },
  rollback: (_host, release) => releaseRollbackStep(release),
  releases: {
    kept: (ctx) => ctx.facts.get(releasesProbe(ctx.layout)),
    current: currentRelease,
  },
};
