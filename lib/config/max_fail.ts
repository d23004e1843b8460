/**
 * `max_fail`: how many hosts of a rolling deploy may fail before the rollout
 * stops (no later batch starts). A count of hosts, or a percentage of the
 * hosts deployed to.
 */
import { describe, Invalid } from "./validators.ts";

/** A number of hosts, or a percentage of the run's hosts written `"25%"`. */
export type MaxFail = number | `${number}%`;

const PERCENT = /^(\d{1,3})%$/;

export const MAX_FAIL_ALLOWED =
  'a number of hosts (0 or more) or a percentage of the hosts deployed to, such as "25%"';

export function parseMaxFail(value: unknown): MaxFail {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === "string") {
    const m = PERCENT.exec(value.trim());
    if (m && Number(m[1]) <= 100) return `${Number(m[1])}%`;
  }
  throw new Invalid(`must be ${MAX_FAIL_ALLOWED}: got ${describe(value)}`);
}

/** The hosts that may fail out of `total`: a percentage rounds down ("25%" of 3 hosts is 0). */
export function maxFailCount(value: MaxFail, total: number): number {
  if (typeof value === "number") return value;
  return Math.floor((total * Number(value.slice(0, -1))) / 100);
}
