/** `activate` and `rollback`: move traffic between what is already on the hosts. */
import type { CommandDef, Parsed } from "../cli_args.ts";
import { openSession } from "../session.ts";
import type { Ui } from "../ui.ts";
import {
  commandHooks,
  COMMON_FLAGS,
  HOST_FLAGS,
  JSON_FLAG,
  LOCK_FLAGS,
  lockOwner,
  runExitCode,
  runPlan,
} from "./common.ts";
import { layoutFor } from "../layout.ts";
import { activateStep, rollbackStep } from "../strategies/bluegreen.ts";
import { releaseRollbackStep } from "../strategies/rollback.ts";
import { releasesProbe } from "../strategies/zero_downtime.ts";
import { slotFacts, slotFiles } from "../strategies/slots.ts";
import type { Step } from "../module.ts";
import { UserError } from "../errors.ts";
import { type Interrupt, NO_INTERRUPT } from "../interrupt.ts";
import type { HostConfig } from "../config/types.ts";
import { deployedFromState, withHistory } from "../history.ts";

export const activateCommand: CommandDef = {
  name: "activate",
  summary: "bluegreen: send traffic to the staged slot on every host (health-checked first).",
  flags: [...HOST_FLAGS, ...LOCK_FLAGS, JSON_FLAG, ...COMMON_FLAGS],
};

export const rollbackCommand: CommandDef = {
  name: "rollback",
  summary:
    "Go back: bluegreen to the other slot (if it runs and answers), zero_downtime to the previous (or --release) release.",
  flags: [
    ...HOST_FLAGS,
    {
      name: "release",
      type: "string",
      valueName: "NAME",
      description: "zero_downtime: the release folder to go back to",
    },
    ...LOCK_FLAGS,
    JSON_FLAG,
    ...COMMON_FLAGS,
  ],
};

async function runSlotCommand(
  ui: Ui,
  args: Parsed,
  name: "activate" | "rollback",
  step: (host: HostConfig) => Step,
  notes: Record<string, unknown> = {},
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  const s = await openSession(ui, args.flags, name, interrupt);
  try {
    for (const host of s.hosts) step(host);
    const history = {
      command: name,
      who: lockOwner(name).holder,
      startedAt: performance.now(),
      mask: (t: string) => ui.mask(t),
      deployed: deployedFromState,
    };
    const hooks = commandHooks(s, name);
    const results = await runPlan(s, {
      title: `${name} ${s.env.name}`,
      hooks,
      lock: true,
      lockWait: args.flags["lock-wait"] as number | undefined,
      commandLine: `${name} --env ${s.env.name}`,
      notes,
      together: true,
      plan: (host) => {
        const layout = layoutFor(host);
        return Promise.resolve({
          steps: withHistory([step(host)], history),
          probes: [...slotFacts(host, layout), releasesProbe(layout)],
          files: slotFiles(host, layout),
          packages: [],
        });
      },
    });
    return runExitCode(results, hooks);
  } finally {
    await s.close();
  }
}

export function activate(
  ui: Ui,
  args: Parsed,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  return runSlotCommand(
    ui,
    args,
    "activate",
    (host) => {
      if (host.deployment_strategy !== "bluegreen") {
        throw new UserError(
          `Use activate with bluegreen only: ${host.name} deploys with ${host.deployment_strategy}, which goes live on deploy`,
        );
      }
      return activateStep;
    },
    {},
    interrupt,
  );
}

export function rollback(
  ui: Ui,
  args: Parsed,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  const release = args.flags.release as string | undefined;
  return runSlotCommand(
    ui,
    args,
    "rollback",
    (host) => {
      if (host.deployment_strategy === "bluegreen") {
        if (release) throw new UserError("Drop --release: bluegreen rolls back to the other slot");
        return rollbackStep;
      }
      if (host.deployment_strategy === "zero_downtime") return releaseRollbackStep;
      throw new UserError(
        `Redeploy an earlier tag instead: ${host.name} uses in_place, which keeps no previous release (djaploy deploy --release TAG)`,
      );
    },
    { release },
    interrupt,
  );
}
