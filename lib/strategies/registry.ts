/** The strategy a host deploys with. */
import type { HostConfig } from "../config/types.ts";
import { UserError } from "../errors.ts";
import { inPlace } from "./in_place.ts";
import { zeroDowntime } from "./zero_downtime.ts";
import { blueGreen } from "./bluegreen.ts";
import type { Strategy } from "./strategy.ts";

const STRATEGIES: Record<string, Strategy> = {
  in_place: inPlace,
  zero_downtime: zeroDowntime,
  bluegreen: blueGreen,
};

export function strategyFor(host: HostConfig): Strategy {
  const s = STRATEGIES[host.deployment_strategy];
  if (!s) {
    throw new UserError(
      `Choose another deployment_strategy for ${host.name}: "${host.deployment_strategy}" is not available in this version`,
      { hint: `Available: ${Object.keys(STRATEGIES).join(", ")}` },
    );
  }
  return s;
}
