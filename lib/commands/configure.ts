/** `djaploy configure`: prepare servers (idempotent). */
import type { CommandDef, Parsed } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { type Interrupt, NO_INTERRUPT } from "../cli/interrupt.ts";
import { COMMON_FLAGS, HOST_FLAGS, JSON_FLAG, modulePlanParts, runPlan } from "./common.ts";

export const configureCommand: CommandDef = {
  name: "configure",
  aliases: ["configureserver"],
  summary:
    "Prepare servers: app user, Python, dependency tooling, nginx, systemd units. Safe to re-run: changes only what differs.",
  flags: [
    ...HOST_FLAGS,
    {
      name: "dry-run",
      type: "boolean",
      description: "Show the commands, change nothing",
    },
    JSON_FLAG,
    ...COMMON_FLAGS,
  ],
};

export async function configure(
  ui: Ui,
  args: Parsed,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  const s = await openSession(ui, args.flags, "configure", interrupt);
  try {
    const results = await runPlan(s, {
      title: `configure ${s.env.name}${s.dryRun ? " (dry run)" : ""}`,
      plan: async (host) => {
        const modules = await s.modules(host);
        return {
          ...modulePlanParts(modules, host),
          steps: modules.flatMap((m) => m.steps?.configure ?? []),
        };
      },
    });
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await s.close();
  }
}
