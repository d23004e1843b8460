/**
 * bluegreen: two slots, slots/blue and slots/green, each with its own
 * gunicorn unit and socket. A deploy goes into the slot that is not serving
 * and leaves it running there, staged, reachable on its own socket for a
 * look; `activate` (or `deploy --activate`) health-checks it again and
 * switches nginx to it. The previous slot keeps running: `rollback` is an
 * instant switch back. Each slot collects its static files into its own
 * folder (shared/staticfiles-{slot}); nginx's live-static link moves with
 * traffic, so staging never changes what the live slot serves.
 */
import { note, type Step, type StepContext } from "../engine/module_api.ts";
import { ACTIVATE, type Strategy } from "./strategy.ts";
import { otherSlot, type Slot } from "../host/layout.ts";
import { shScript } from "../exec/remote_command.ts";
import {
  ALREADY_LIVE,
  checkConfigured,
  dependencies,
  healthCheckCommand,
  healthCheckError,
  liveState,
  migrateAndCollectstatic,
  noteIfAlreadyLive,
  pruneVenvsCommand,
  releaseRecord,
  setStaticDir,
  setTarget,
  setTasksDir,
  type SlotRecord,
  VENV,
} from "../deploy/steps.ts";
import {
  activeSlot,
  idleSlot,
  isCommand,
  liveSlotUp,
  noteLive,
  planned,
  recordSlotsCommand,
  restartOtherServices,
  retireOthers,
  slotFacts,
  slotFiles,
  slotOf,
  slotStaticRoot,
  slotTarget,
  startSlot,
  switchAndCleanUp,
  switched,
  switchTrafficCommand,
  unitState,
} from "./slots.ts";
import { chainFailure } from "../exec/chain.ts";
import { linkShared } from "./releases.ts";
import { strategyTraits } from "./traits.ts";
import { UserError } from "../errors.ts";
import { versionFileFilters, writeVersionFile } from "../deploy/version_file.ts";

/** Provided by "upload to slot": the slot this deploy stages in (never the one serving). */
const STAGING = note<Slot>("staging slot");
/** Provided by "upload to slot": the live slot runs this code; "start staged slot" uploads only if it must. */
const UPLOAD_DEFERRED = note<boolean>("upload deferred");
/** Provided by "start staged slot": the record of what it staged, for activation. */
const STAGED = note<SlotRecord>("staged record");

async function upload(ctx: StepContext, slotName: Slot): Promise<void> {
  const slot = slotOf(ctx, slotName);
  // A slot that zero_downtime left as a link to a release becomes a folder again.
  await ctx.exec.run({
    argv: shScript('[ -L "$1" ] && rm -f "$1"; mkdir -p "$1"', slot.dir),
    as: ctx.host.app_user,
  });
  const { changed } = await ctx.exec.sync({
    source: ctx.release!.artifactDir,
    dest: slot.dir,
    as: ctx.host.app_user,
    delete: true,
    filters: [
      "P __pycache__/",
      ...ctx.host.shared_resources.map((p) => `P /${p}`),
      ...versionFileFilters(ctx),
    ],
  });
  if (changed.length) ctx.changed(`${slot.slot}: ${changed.length} files changed`);
  await writeVersionFile(ctx, slot.dir);
  if (ctx.host.shared_resources.length) await linkShared(ctx, slot.dir, ctx.host.shared_resources);
}

const uploadToSlot: Step = {
  name: "upload to slot",
  async run(ctx) {
    const staging = idleSlot(ctx);
    setTarget(ctx, slotOf(ctx, staging).dir);
    setStaticDir(ctx, slotOf(ctx, staging).staticRoot);
    ctx.shared.set(STAGING, staging);
    // The live slot already runs this code: upload only if something else changes (see startStaged).
    const active = activeSlot(ctx);
    if (
      !ctx.force && active && liveState(ctx)?.tree === ctx.release!.tree &&
      unitState(ctx, slotOf(ctx, active).unitName).active === "active"
    ) {
      ctx.shared.set(UPLOAD_DEFERRED, true);
      // migrate's check runs in the live slot, which holds this very code.
      setTasksDir(ctx, slotOf(ctx, active).dir);
      return;
    }
    await upload(ctx, staging);
  },
};

const startStaged: Step = {
  name: "start staged slot",
  async run(ctx) {
    if (noteIfAlreadyLive(ctx, liveSlotUp)) return;
    const staging = ctx.shared.need(STAGING);
    if (ctx.shared.get(UPLOAD_DEFERRED)) await upload(ctx, staging);
    const slot = slotOf(ctx, staging);
    const live = liveState(ctx);
    const record = releaseRecord(ctx);
    const slots = { ...(live?.slots ?? {}) };
    try {
      await startSlot(ctx, slot, ctx.shared.need(VENV));
    } catch (err) {
      slots[slot.slot] = { ...record, state: "failed" };
      await ctx.exec.run(
        recordSlotsCommand(ctx, { ...(live ?? record), active: live?.active, slots }),
      );
      throw err;
    }
    const staged: SlotRecord = { ...record, state: "staged" };
    slots[slot.slot] = staged;
    // The top-level record stays the live release's until activation.
    await ctx.exec.run(
      recordSlotsCommand(ctx, { ...(live?.slots ? live : record), active: live?.active, slots }),
    );
    ctx.shared.set(STAGED, staged);
    ctx.log.info(`staged in ${slot.slot}: curl --unix-socket ${slot.socketPath} http://localhost/`);
  },
};

/**
 * Sends traffic to a slot that runs and answers its health check, records
 * it as active, and makes it the one that starts at boot.
 */
export async function activateSlot(
  ctx: StepContext,
  slotName: Slot,
  record: SlotRecord,
): Promise<void> {
  const slot = slotOf(ctx, slotName);
  const state = liveState(ctx);
  const before = activeSlot(ctx);
  const slots = { ...(state?.slots ?? {}) };
  // Traffic and nginx's /static/ move together.
  const live = { socketPath: slot.socketPath, staticRoot: slotStaticRoot(ctx, slot) };
  if (before && before !== slotName && slots[before]) {
    slots[before] = { ...slots[before]!, state: "staged" };
  }
  const active: SlotRecord = { ...record, state: "active", activated_at: new Date().toISOString() };
  slots[slotName] = active;
  const health = planned(healthCheckCommand(ctx, slot.socketPath));
  await ctx.hook("before_switch");
  // One round trip: the check, then (only if it passes) the switch with its
  // record, then the cleanup, which may fail with a warning only.
  await switchAndCleanUp(
    ctx,
    [
      health,
      switchTrafficCommand(ctx, live),
      planned(recordSlotsCommand(ctx, { ...active, active: slotName, slots })),
    ].filter(isCommand),
    // The other slot keeps running: rollback is a switch back.
    // What the two slots run stays (rollback switches back); older virtualenvs go.
    [
      ...retireOthers(ctx, slotName, { keepOtherSlot: true }),
      pruneVenvsCommand(ctx, Object.values(slots).map((s) => s?.venv)),
    ].filter(isCommand),
    (r, cmds) =>
      r.failed === 0 && health
        ? healthCheckError(ctx, {
          stderr: r.stderr,
          unit: slot.unitName,
          target: slotTarget(ctx, slot, record.venv),
        })
        : chainFailure(ctx.exec, cmds, r),
  );
  switched(ctx, live);
  ctx.changed(`activated ${slotName} (${record.release})`);
  noteLive(ctx, slot.dir, record.venv);
  await ctx.hook("after_switch");
}

/** deploy --activate (and the very first deploy): activate once every host has staged. */
const activateAfterStaging: Step = {
  name: "activate",
  async run(ctx) {
    if (ctx.shared.get(ALREADY_LIVE)) return;
    // The first bluegreen deploy here (nothing active, or another strategy ran before) goes live.
    const first = !activeSlot(ctx) || liveState(ctx)?.strategy !== blueGreen.name;
    if (!ctx.shared.get(ACTIVATE) && !first) {
      ctx.log.info(`activate it with: djaploy activate --env ${ctx.env.name}`);
      return;
    }
    await ctx.barrier("staged");
    await activateSlot(ctx, ctx.shared.need(STAGING), ctx.shared.need(STAGED));
  },
};

export const blueGreen: Strategy = {
  ...strategyTraits({ deployment_strategy: "bluegreen" }),
  facts: slotFacts,
  files: slotFiles,
  plan: (phase) => [
    checkConfigured,
    uploadToSlot,
    ...phase("deploy:upload"),
    ...phase("deploy:configure"),
    dependencies,
    migrateAndCollectstatic,
    ...phase("deploy:pre"),
    startStaged,
    activateAfterStaging,
    restartOtherServices,
    ...phase("deploy:start"),
  ],
  activate: () => activateStep,
  rollback: (_host, release) => {
    if (release) throw new UserError("Drop --release: bluegreen rolls back to the other slot");
    return rollbackStep;
  },
};

/** `activate`: the staged slot, on every host. */
export const activateStep: Step = {
  name: "activate",
  async run(ctx) {
    const state = liveState(ctx);
    const active = activeSlot(ctx);
    const staged = active ? otherSlot(active) : undefined;
    const record = staged ? state?.slots?.[staged] : undefined;
    if (!staged || !record || record.state !== "staged") {
      throw new UserError(`Deploy first: nothing is staged on ${ctx.host.name}`, {
        hint: active ? `${active} serves ${state?.slots?.[active]?.release ?? "?"}` : undefined,
      });
    }
    if (unitState(ctx, slotOf(ctx, staged).unitName).active !== "active") {
      throw new UserError(
        `Deploy again: the staged slot ${staged} on ${ctx.host.name} is not running`,
      );
    }
    await activateSlot(ctx, staged, record);
    await restartOtherServices.run(ctx);
  },
};

/** `rollback` for bluegreen: back to the other slot, if it still runs and answers. */
export const rollbackStep: Step = {
  name: "rollback",
  async run(ctx) {
    const state = liveState(ctx);
    const active = activeSlot(ctx);
    if (!active) throw new UserError(`Deploy first: no slot is active on ${ctx.host.name}`);
    const other = otherSlot(active);
    const record = state?.slots?.[other];
    if (!record || record.state === "failed") {
      throw new UserError(
        `Cannot roll back on ${ctx.host.name}: the ${other} slot ${
          record ? "failed its health check" : "was never deployed"
        }`,
      );
    }
    if (unitState(ctx, slotOf(ctx, other).unitName).active !== "active") {
      throw new UserError(
        `Cannot roll back on ${ctx.host.name}: ${slotOf(ctx, other).unitName} is not running`,
        {
          hint:
            `Deploy the release you want instead: djaploy deploy --env ${ctx.env.name} --release <tag> --activate`,
        },
      );
    }
    await activateSlot(ctx, other, record);
    await restartOtherServices.run(ctx);
    ctx.log.info(
      `${ctx.host.name} serves ${record.release} (${record.commit.slice(0, 7)}) from ${other}`,
    );
  },
};
