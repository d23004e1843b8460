/**
 * What the strategies share about releases: the folders zero_downtime keeps
 * in releases/ (what `status` and `rollback` list), which of them `current`
 * links, and the shared_resources every slot's code links to shared/.
 */
import * as remotePath from "../remote_path.ts";
import type { StepContext } from "../engine/module_api.ts";
import type { FactProbe } from "../host/facts.ts";
import type { Layout } from "../host/layout.ts";
import { shScript } from "../exec/remote_command.ts";
import { linkProbe } from "../host/probes.ts";
import { LIST_RELEASES_SH, SHARE_DIRS_SH } from "./programs.gen.ts";
import { textOrder } from "../order.ts";

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
    argv: shScript(LIST_RELEASES_SH, layout.releasesDir),
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
      }).sort((a, b) => textOrder(a.name, b.name)),
  };
}

/** Where the `current` link points. */
export function currentLinkProbe(layout: Layout) {
  return linkProbe("current-link", layout.currentLink);
}

/** The release `current` points at, if any. */
export function currentRelease(ctx: StepContext): string | undefined {
  const link = ctx.facts.get(currentLinkProbe(ctx.layout));
  return typeof link === "string" ? remotePath.basename(link) : undefined;
}

/** Links project paths that must survive deploys (uploads) to shared/. */
export async function linkShared(
  ctx: StepContext,
  dir: string,
  paths: readonly string[],
): Promise<void> {
  await ctx.exec.run({
    argv: shScript(
      SHARE_DIRS_SH,
      dir,
      ctx.layout.sharedDir,
      ...paths,
    ),
    as: ctx.host.app_user,
  });
}
