/**
 * zero_downtime rollback: the previous good release (or --release NAME)
 * starts in the idle slot with its own virtualenv; its static files are
 * collected again (the shared manifest is the newer release's), and traffic
 * switches only once it answers. Migrations are never run backwards.
 */
import { posix } from "node:path";
import type { Step } from "../module.ts";
import { otherSlot } from "../layout.ts";
import { type ReleaseRecord, runDjangoTasks, setTarget } from "../deploy_steps.ts";
import { UserError } from "../errors.ts";
import { currentRelease, goLive, releasesProbe } from "./zero_downtime.ts";
import { activeSlot, pointLinkCommand, restartOtherServices, slotOf, startSlot } from "./slots.ts";

export const releaseRollbackStep: Step = {
  name: "rollback",
  async run(ctx) {
    const wanted = ctx.notes.get("release") as string | undefined;
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
    const dir = posix.join(ctx.layout.releasesDir, chosen.name);
    setTarget(ctx, dir);
    ctx.notes.set("venv", record.venv);
    const active = activeSlot(ctx);
    const slot = slotOf(ctx, active ? otherSlot(active) : "blue");
    await runDjangoTasks(ctx, { migrate: false, collectstatic: true });
    const link = pointLinkCommand(ctx, slot.dir, posix.relative(posix.dirname(slot.dir), dir));
    await startSlot(ctx, slot, record.venv, [link]);
    const next = {
      ...(record as unknown as ReleaseRecord),
      activated_at: new Date().toISOString(),
    };
    await goLive(ctx, slot, dir, next);
    await restartOtherServices.run(ctx);
  },
};
