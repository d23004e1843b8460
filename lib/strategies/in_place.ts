/**
 * in_place: the code is updated where it runs (code/), then services
 * restart. Simple and fast; visitors may see errors during the restart.
 */
import { processUnitFiles, processUnitsProbe } from "../deploy/processes.ts";
import type { Strategy } from "./strategy.ts";
import type { Step } from "../engine/module_api.ts";
import { slotLayout, SLOTS } from "../host/layout.ts";
import {
  drainCommand,
  isCommand,
  liveSocketProbe,
  reportChanges,
  slotUnitsProbe,
  switched,
  switchTrafficCommand,
  unitState,
} from "./slots.ts";
import { commandsOf } from "../exec/remote_command.ts";
import { strategyTraits } from "./traits.ts";
import { UserError } from "../errors.ts";
import { runChain } from "../exec/chain.ts";
import {
  checkConfigured,
  dependencies,
  deployProbes,
  healthCheckStep,
  linkVenv,
  migrateAndCollectstatic,
  pruneVenvs,
  recordRelease,
  restartServices,
} from "../deploy/steps.ts";
import { versionFileFilters, writeVersionFile } from "../deploy/version_file.ts";

const uploadCode: Step = {
  name: "upload code",
  async run(ctx) {
    const { changed } = await ctx.exec.sync({
      source: ctx.release!.artifactDir,
      dest: ctx.layout.codeDir,
      as: ctx.host.app_user,
      delete: true,
      // Python's byte-code caches are not in the artifact; keeping them spares a recompile.
      filters: ["P __pycache__/", ...versionFileFilters(ctx)],
    });
    if (changed.length) {
      ctx.changed(`${changed.length} file${changed.length === 1 ? "" : "s"} changed`);
    }
    await writeVersionFile(ctx, ctx.layout.codeDir);
  },
};

/**
 * Back from a slot strategy: once in_place answers its health check, the
 * live link moves to its socket (no request refused), and the slot units and
 * the unit that started them at boot are retired.
 */
const retireSlots: Step = {
  name: "retire slots",
  async run(ctx) {
    const live = { socketPath: ctx.layout.socketPath, staticRoot: ctx.layout.staticRoot };
    const cmds = [switchTrafficCommand(ctx, live)].filter(isCommand);
    for (const s of SLOTS) {
      const slot = slotLayout(ctx.host, ctx.layout, s);
      if (unitState(ctx, slot.unitName).active === "active") {
        cmds.push(drainCommand(ctx, slot.unitName, slot.socketPath));
      }
    }
    const enabled = [
      ...SLOTS.map((s) => slotLayout(ctx.host, ctx.layout, s).unitName),
      ctx.layout.slotsBootUnit,
    ]
      .filter((u) => unitState(ctx, u).enabled === "enabled");
    if (enabled.length) {
      cmds.push({
        command: { argv: ["systemctl", "disable", "--quiet", ...enabled], as: "root" },
        change: `disabled ${enabled.join(", ")}`,
      });
    }
    await runChain(ctx.exec, commandsOf(cmds), { root: true });
    reportChanges(ctx, cmds);
    switched(ctx, live);
  },
};

export const inPlace: Strategy = {
  ...strategyTraits({ deployment_strategy: "in_place" }),
  facts: (host, layout) => [
    ...deployProbes(host, layout),
    slotUnitsProbe(host, layout),
    liveSocketProbe(layout),
    processUnitsProbe(host),
  ],
  files: (host) => processUnitFiles(host),
  plan: (phase) => [
    checkConfigured,
    uploadCode,
    ...phase("deploy:upload"),
    ...phase("deploy:configure"),
    dependencies,
    linkVenv,
    migrateAndCollectstatic,
    ...phase("deploy:pre"),
    restartServices,
    healthCheckStep,
    retireSlots,
    ...phase("deploy:start"),
    recordRelease,
    pruneVenvs,
  ],
  activate: (host) => {
    throw new UserError(
      `Use activate with bluegreen only: ${host.name} deploys with in_place, which goes live on deploy`,
    );
  },
  rollback: (host) => {
    throw new UserError(
      `Redeploy an earlier tag instead: ${host.name} uses in_place, which keeps no previous release (djaploy deploy --release TAG)`,
    );
  },
};
