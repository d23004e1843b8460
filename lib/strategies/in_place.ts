/**
 * in_place: the code is updated where it runs (code/), then services
 * restart. Simple and fast; visitors may see errors during the restart.
 */
import type { Strategy } from "./strategy.ts";
import type { Step } from "../module.ts";
import { slotLayout, SLOTS } from "../layout.ts";
import { slotUnitsProbe, unitState } from "./slots.ts";
import {
  checkConfigured,
  dependencies,
  deployProbes,
  healthCheckStep,
  linkVenv,
  migrateAndCollectstatic,
  recordRelease,
  restartServices,
} from "../deploy_steps.ts";

const uploadCode: Step = {
  name: "upload code",
  async run(ctx) {
    const { changed } = await ctx.exec.sync({
      source: ctx.release!.artifactDir,
      dest: ctx.layout.codeDir,
      as: ctx.host.app_user,
      delete: true,
      // Python's byte-code caches are not in the artifact; keeping them spares a recompile.
      filters: ["P __pycache__/"],
    });
    if (changed.length) {
      ctx.changed(`${changed.length} file${changed.length === 1 ? "" : "s"} changed`);
    }
  },
};

/** Back from a slot strategy: its units stop once in_place serves. */
const retireSlots: Step = {
  name: "retire slots",
  async run(ctx) {
    const running = SLOTS.map((s) => slotLayout(ctx.host, ctx.layout, s).unitName)
      .filter((u) =>
        unitState(ctx, u).active === "active" || unitState(ctx, u).enabled === "enabled"
      );
    if (running.length === 0) return;
    await ctx.exec.run({
      argv: ["systemctl", "disable", "--now", "--quiet", ...running],
      as: "root",
    });
    ctx.changed(`stopped ${running.join(", ")}`);
  },
};

export const inPlace: Strategy = {
  name: "in_place",
  facts: (host, layout) => [...deployProbes(host, layout), slotUnitsProbe(host, layout)],
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
  ],
};
