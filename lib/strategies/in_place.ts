/**
 * in_place: the code is updated where it runs (code/), then services
 * restart. Simple and fast; visitors may see errors during the restart.
 */
import type { Strategy } from "./strategy.ts";
import type { Step } from "../module.ts";
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

export const inPlace: Strategy = {
  name: "in_place",
  facts: deployProbes,
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
    ...phase("deploy:start"),
    recordRelease,
  ],
};
