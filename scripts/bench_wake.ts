/**
 * What waiting costs on this machine: the CPU a Deno process uses for one
 * idle wait (a timer, nothing else to do), by the wait's length. The code a
 * wait runs is the same whatever its length; where the cost still grows with
 * it (on the virtual machines measured in docs/benchmarks.md, tens to
 * hundreds of microseconds), it is the CPU going idle and waking, with cold
 * caches after, and every wait of a deploy (a host's answer, a process's
 * exit) pays it. Printed beside the fleet benchmark's figures so that djaploy's CPU per
 * host compares between machines (docs/benchmarks.md). No permission needed.
 *
 *   "$(scripts/deno.sh)" run scripts/bench_wake.ts          # a table
 *   "$(scripts/deno.sh)" run scripts/bench_wake.ts --line   # one phrase, for bench.sh
 *
 * Not a test: it measures.
 */
import { cpuUsage } from "node:process";

const WAITS_MS = [1, 20, 100] as const;
/** Each figure is the median of this many rounds. */
const ROUNDS = 5;

const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The process's CPU in µs for one wait of `ms`, over a round of about 400 ms of waits. */
async function perWait(ms: number): Promise<number> {
  const n = Math.max(4, Math.round(400 / ms));
  const before = cpuUsage();
  for (let i = 0; i < n; i++) await sleep(ms);
  const used = cpuUsage(before);
  return (used.user + used.system) / n;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

if (import.meta.main) {
  await perWait(1); // the timers' and promises' code warm
  const figures = new Map<number, number>();
  for (const ms of WAITS_MS) {
    const rounds: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await perWait(ms));
    figures.set(ms, median(rounds));
  }
  const us = (ms: number) => Math.round(figures.get(ms)!);
  if (Deno.args.includes("--line")) {
    out(
      `an idle wait costs djaploy's runtime ${us(1)} µs of CPU (1 ms), ${us(20)} µs (20 ms), ` +
        `${us(100)} µs (100 ms), median of ${ROUNDS}`,
    );
  } else {
    out(`CPU of one idle wait in a Deno process, median of ${ROUNDS} rounds:`);
    for (const ms of WAITS_MS) out(`  wait of ${String(ms).padStart(3)} ms: ${us(ms)} µs`);
  }
}
