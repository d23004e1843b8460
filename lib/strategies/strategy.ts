/** A strategy: the ordered steps of a deploy, with the modules' phases placed among them. */
import type { FactProbe } from "../facts.ts";
import type { Layout } from "../layout.ts";
import type { Phase, Step } from "../module.ts";
import type { HostConfig } from "../config/types.ts";

export interface Strategy {
  readonly name: string;
  /** Probes the strategy's own steps read. */
  readonly facts: (host: HostConfig, layout: Layout) => readonly FactProbe[];
  /** Remote files whose content hash the strategy's steps compare before writing. */
  readonly files?: (host: HostConfig, layout: Layout) => readonly string[];
  /** The steps, given a function that returns the modules' steps for a phase. */
  readonly plan: (phase: (p: Phase) => readonly Step[]) => readonly Step[];
}
