/**
 * A strategy: the ordered steps of a deploy, with the modules' phases placed
 * among them, and what it does for `activate` and `rollback`. Callers ask
 * the strategy; they never compare its name.
 */
import type { FactProbe } from "../host/facts.ts";
import type { Layout } from "../host/layout.ts";
import { note, type Phase, type Step, type StepContext } from "../engine/module_api.ts";
import type { HostConfig } from "../config/types.ts";
import type { StrategyTraits } from "./traits.ts";
import type { ReleaseEntry } from "./releases.ts";

/** Provided by `deploy --activate`: bluegreen activates what it staged in the same run. */
export const ACTIVATE = note<boolean>("activate");

export interface Strategy extends StrategyTraits {
  /** Probes the strategy's own steps read (deploy, activate and rollback). */
  readonly facts: (host: HostConfig, layout: Layout) => readonly FactProbe[];
  /** Remote files whose content hash the strategy's steps compare before writing. */
  readonly files?: (host: HostConfig, layout: Layout) => readonly string[];
  /** The steps, given a function that returns the modules' steps for a phase. */
  readonly plan: (phase: (p: Phase) => readonly Step[]) => readonly Step[];
  /**
   * `activate`: the step that sends traffic to what a deploy staged, or a
   * UserError saying why this strategy has nothing to activate.
   */
  readonly activate: (host: HostConfig) => Step;
  /**
   * `rollback`: the step that goes back (to `release`, where the strategy
   * keeps releases), or a UserError saying why it cannot.
   */
  readonly rollback: (host: HostConfig, release: string | undefined) => Step;
  /** The releases the strategy keeps on the host, and the live one; undefined where it keeps none. */
  readonly releases?: {
    readonly kept: (ctx: StepContext) => readonly ReleaseEntry[];
    readonly current: (ctx: StepContext) => string | undefined;
  };
}
