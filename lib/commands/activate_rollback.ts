/** `activate` and `rollback`: move traffic between what is already on the hosts. */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
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
import { layoutFor } from "../host/layout.ts";
import { strategyFor } from "../strategies/registry.ts";
import type { Step } from "../engine/module_api.ts";
import { type Interrupt, NO_INTERRUPT } from "../cli/interrupt.ts";
import type { HostConfig } from "../config/types.ts";
import { deployedFromState, withHistory } from "../host/history_records.ts";

export const activateCommand = {
  name: "activate",
  summary: "bluegreen: send traffic to the staged slot on every host (health-checked first).",
  flags: [...HOST_FLAGS, ...LOCK_FLAGS, JSON_FLAG, ...COMMON_FLAGS],
} as const satisfies CommandDef;

export const rollbackCommand = {
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
} as const satisfies CommandDef;

async function runSlotCommand(
  ui: Ui,
  args: ParsedFor<typeof activateCommand>,
  name: "activate" | "rollback",
  step: (host: HostConfig) => Step,
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
      lockWait: args.flags["lock-wait"],
      commandLine: `${name} --env ${s.env.name}`,
      together: true,
      plan: (host) => {
        const layout = layoutFor(host);
        const strategy = strategyFor(host);
        return Promise.resolve({
          steps: withHistory([step(host)], history),
          probes: strategy.facts(host, layout),
          files: strategy.files?.(host, layout) ?? [],
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
  args: ParsedFor<typeof activateCommand>,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  return runSlotCommand(
    ui,
    args,
    "activate",
    (host) => strategyFor(host).activate(host),
    interrupt,
  );
}

export function rollback(
  ui: Ui,
  args: ParsedFor<typeof rollbackCommand>,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  const release = args.flags.release;
  return runSlotCommand(
    ui,
    args,
    "rollback",
    (host) => strategyFor(host).rollback(host, release),
    interrupt,
  );
}
