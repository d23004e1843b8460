/**
 * What each strategy is, as data: the traits that code outside the
 * strategies asks about (which units serve, where the live code runs, who
 * waits for whom), keyed by the name config and state.json carry. The
 * strategies' behaviour (plan, activate, rollback, releases) is on their
 * Strategy objects; this table imports none of them, so the layers below
 * (probes, confinement, live target) can ask without pulling in the steps.
 */
import { type HostConfig, STRATEGIES, type Strategy as StrategyName } from "../config/types.ts";
import { type Layout, type Slot, slotLayout } from "../host/layout.ts";

export type { StrategyName };

export interface StrategyTraits {
  readonly name: StrategyName;
  /**
   * Serves from two slots ({app}-blue, {app}-green) behind the live socket
   * link, started at boot by {app}-slots.service; without slots one unit,
   * {app}.service, runs code/ through the venv link.
   */
  readonly hasSlots: boolean;
  /**
   * A deploy leaves the new release staged (running, without traffic) for
   * `activate`, unless it is the first or --activate: every host of a batch
   * runs at once, so activation can wait until all of them staged.
   */
  readonly stages: boolean;
  /** Keeps each release in releases/, `current` linking the live one (rollback --release). */
  readonly keepsReleases: boolean;
  /** The folder the live release runs from, given the active slot (slot strategies). */
  readonly liveCodeDir: (host: HostConfig, layout: Layout, slot: Slot) => string;
}

const TRAITS: Readonly<Record<StrategyName, StrategyTraits>> = {
  in_place: {
    name: "in_place",
    hasSlots: false,
    stages: false,
    keepsReleases: false,
    liveCodeDir: (_host, layout) => layout.codeDir,
  },
  zero_downtime: {
    name: "zero_downtime",
    hasSlots: true,
    stages: false,
    keepsReleases: true,
    // The slots link to releases; `current` links the live one and follows a switch.
    liveCodeDir: (_host, layout) => layout.currentLink,
  },
  bluegreen: {
    name: "bluegreen",
    hasSlots: true,
    stages: true,
    keepsReleases: false,
    liveCodeDir: (host, layout, slot) => slotLayout(host, layout, slot).dir,
  },
};

/** The traits of the strategy named `name` (from state.json, say); undefined for an unknown name. */
export function traitsNamed(name: string): StrategyTraits | undefined {
  const known = STRATEGIES.find((n) => n === name);
  return known && TRAITS[known];
}

/** Whether `host`'s strategy serves from two slots ({app}-blue, {app}-green) rather than {app}.service. */
export function hasSlots(host: Pick<HostConfig, "deployment_strategy">): boolean {
  return TRAITS[host.deployment_strategy].hasSlots;
}

/** The traits of the strategy `host` deploys with. */
export function strategyTraits(host: Pick<HostConfig, "deployment_strategy">): StrategyTraits {
  return TRAITS[host.deployment_strategy];
}
