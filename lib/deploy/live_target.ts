/**
 * What runs on a host now, read from its deploy state: the live code's
 * folder, manage.py's folder, the Python that runs it and the app's web unit.
 * The day-2 commands (manage, logs) act on this, whatever the strategy.
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig } from "../config/types.ts";
import type { DeployState } from "./steps.ts";
import { type Layout, type Slot, slotLayout } from "../host/layout.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import { UserError } from "../errors.ts";
import { strategyTraits, traitsNamed } from "../strategies/traits.ts";
import {
  type ProcessTarget,
  processUnitName,
  processUnits,
  scheduleUnitNames,
} from "./processes.ts";

export interface LiveTarget {
  /** The strategy the live release was deployed with (state.json), which may differ from the config's. */
  readonly strategy: string;
  /** in_place: code/; zero_downtime: current; bluegreen: the active slot's folder. */
  readonly codeDir: string;
  readonly manageDir: string;
  readonly python: string;
  /** The gunicorn unit serving traffic: `{app}.service` or the active slot's `{app}-{slot}.service`. */
  readonly webUnit: string;
  readonly slot?: Slot;
}

/** Where the live release runs; throws a UserError when nothing is deployed. */
export function liveTarget(
  host: HostConfig,
  layout: Layout,
  state: DeployState | undefined,
): LiveTarget {
  if (!state) {
    throw new UserError(
      `Deploy to ${host.name} first: nothing is deployed there (no ${layout.stateFile})`,
      { hint: "Run: djaploy deploy --env <env>" },
    );
  }
  const strategy = state.strategy ?? host.deployment_strategy;
  const traits = traitsNamed(strategy) ?? strategyTraits(host);
  if (!traits.hasSlots) {
    return {
      strategy,
      codeDir: layout.codeDir,
      manageDir: layout.manageDir,
      python: remotePath.join(layout.venvLink, "bin", "python"),
      webUnit: layout.unitName,
    };
  }
  const slot = state.active;
  if (!slot) {
    throw new UserError(
      `Activate a slot on ${host.name} first: ${strategy} staged a release but none is live`,
      { hint: "Run: djaploy activate --env <env>" },
    );
  }
  const codeDir = traits.liveCodeDir(host, layout, slot);
  const venv = state.slots?.[slot]?.venv ?? state.venv;
  return {
    strategy,
    codeDir,
    manageDir: remotePath.join(codeDir, layout.manageRel),
    python: remotePath.join(venv, "bin", "python"),
    webUnit: slotLayout(host, layout, slot).unitName,
    slot,
  };
}

/**
 * Where the app's `[processes]` and `[[schedule]]` jobs run now: manage.py's
 * folder of the live release (a link that follows it where the strategy
 * has one) and its virtualenv; undefined when nothing is live.
 */
export function liveProcessTarget(
  host: HostConfig,
  layout: Layout,
  state: DeployState | undefined,
): ProcessTarget | undefined {
  if (!state) return undefined;
  const traits = traitsNamed(state.strategy) ?? strategyTraits(host);
  if (traits.hasSlots && !state.active) return undefined;
  const t = liveTarget(host, layout, state);
  return { manageDir: t.manageDir, venv: remotePath.dirname(remotePath.dirname(t.python)) };
}

/** manage.py in the live release, as the app user, with the app's environment (bin/run). */
export function liveManageCommand(
  host: HostConfig,
  layout: Layout,
  target: LiveTarget,
  args: readonly string[],
): RemoteCommand {
  return {
    argv: [layout.runScript, target.python, layout.manageFile, ...args],
    as: host.app_user,
    cwd: target.manageDir,
  };
}

/**
 * The app's own units: the web unit that serves traffic, the other
 * `services`, the `[processes]` and the `[[schedule]]` jobs' services.
 */
export function appUnits(host: HostConfig, target: LiveTarget): string[] {
  const web = new Set([host.app_name, `${host.app_name}.service`]);
  return [
    target.webUnit,
    ...host.services.filter((s) => !web.has(s)),
    ...processUnits(host),
    ...host.schedule.map((e) => scheduleUnitNames(host, e.name).service),
  ];
}

/**
 * The unit `logs SERVICE` means: the app's name (or "web") is the web unit
 * that serves now (the active slot's, for slot strategies); a process's or
 * scheduled job's name is its unit; any other name is taken as it is.
 */
export function unitFor(host: HostConfig, target: LiveTarget, service: string): string {
  if (service === "web" || service === host.app_name || service === `${host.app_name}.service`) {
    return target.webUnit;
  }
  if (Object.hasOwn(host.processes, service)) return processUnitName(host, service);
  const job = host.schedule.find((e) => e.name === service);
  if (job) return scheduleUnitNames(host, job.name).service;
  return service;
}
