/**
 * Constant HTTP load on a test host while a test deploys: Debian's `wrk`
 * (keep-alive connections, its default), stopped with SIGINT, which makes
 * wrk print its summary. The summary is parsed into numbers to assert on.
 */
import { run } from "./run.ts";
import type { ProcessResult } from "./run.ts";

const TEST_ADDRESS = /^(10\.231\.\d+\.\d+|127\.\d+\.\d+\.\d+)$/;
/** wrk never runs longer than this, even if a test forgets to stop it. */
const MAX_SECONDS = 120;

export interface LoadOptions {
  /** wrk -t; default 2. */
  readonly threads?: number;
  /** wrk -c; default 8. */
  readonly connections?: number;
  /** wrk -d, the most the load may last; default and at most 120. */
  readonly seconds?: number;
}

export interface LoadResult {
  readonly requests: number;
  /** Seconds wrk ran. */
  readonly seconds: number;
  /** "Non-2xx or 3xx responses" (0 when wrk does not print the line). */
  readonly non2xx: number;
  readonly socketErrors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly timeout: number;
  };
  /** Latency percentiles in milliseconds (50, 75, 90, 99). */
  readonly latencyMs: Readonly<Record<"p50" | "p75" | "p90" | "p99", number>>;
  /** wrk's own output. */
  readonly output: string;
}

export interface Load {
  /** Stops wrk (SIGINT) and returns its figures; safe to call more than once. */
  stop(): Promise<LoadResult>;
}

/**
 * Runs `fn` under constant load on `url`: wrk starts, runs alone for
 * `warmupMs` (default 1000), then through `fn` and `cooldownMs` more (default
 * 1000), and is always stopped. An error of `fn` wins over one of wrk.
 */
export async function withLoad<T>(
  url: string,
  fn: () => Promise<T>,
  opts: LoadOptions & { readonly warmupMs?: number; readonly cooldownMs?: number } = {},
): Promise<{ value: T; load: LoadResult }> {
  const load = startLoad(url, opts);
  let value: T;
  try {
    await sleep(opts.warmupMs ?? 1000);
    value = await fn();
    await sleep(opts.cooldownMs ?? 1000);
  } catch (err) {
    await load.stop().catch(() => undefined);
    throw err;
  }
  return { value, load: await load.stop() };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts wrk against `url` (a test host) in the background; call `stop()` in a finally. */
export function startLoad(url: string, opts: LoadOptions = {}): Load {
  const target = new URL(url);
  if (!TEST_ADDRESS.test(target.hostname)) {
    throw new Error(`Send load only to test hosts or 127.0.0.1: got ${url}`);
  }
  const seconds = Math.min(opts.seconds ?? MAX_SECONDS, MAX_SECONDS);
  let child: Deno.ChildProcess | undefined;
  const done: Promise<ProcessResult> = run("wrk", [
    `-t${opts.threads ?? 2}`,
    `-c${opts.connections ?? 8}`,
    `-d${seconds}s`,
    "--latency",
    url,
  ], { timeoutMs: (seconds + 30) * 1000, onSpawn: (c) => child = c });
  let stopped: Promise<LoadResult> | undefined;
  return {
    stop() {
      return stopped ??= (async () => {
        try {
          child?.kill("SIGINT");
        } catch {
          // wrk already ended (its -d elapsed).
        }
        const r = await done;
        if (!/requests in/.test(r.stdout)) {
          throw new Error(`wrk printed no summary (exit ${r.code}):\n${r.output}`);
        }
        return parseWrk(r.stdout);
      })();
    },
  };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function durationMs(value: string, unit: string): number {
  return Number(value) * UNIT_MS[unit];
}

/** Parses wrk's summary (run with --latency). */
export function parseWrk(text: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)\b/.exec(text);
  if (!total) throw new Error(`Not a wrk summary:\n${text}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const percentile = (p: number) => {
    const m = new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m").exec(text);
    return m ? durationMs(m[1], m[2]) : NaN;
  };
  return {
    requests: Number(total[1]),
    seconds: durationMs(total[2], total[3]) / 1000,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: {
      connect: Number(errors?.[1] ?? 0),
      read: Number(errors?.[2] ?? 0),
      write: Number(errors?.[3] ?? 0),
      timeout: Number(errors?.[4] ?? 0),
    },
    latencyMs: {
      p50: percentile(50),
      p75: percentile(75),
      p90: percentile(90),
      p99: percentile(99),
    },
    output: text,
  };
}

/** Failed requests of any kind: non-2xx/3xx answers and socket errors. */
export function failedRequests(r: LoadResult): number {
  const e = r.socketErrors;
  return r.non2xx + e.connect + e.read + e.write + e.timeout;
}

/** One line for docs/benchmarks.md: what ran and what it measured. */
export function formatLoad(name: string, r: LoadResult): string {
  const e = r.socketErrors;
  return `load: ${name}: ${r.requests} requests in ${r.seconds.toFixed(1)} s ` +
    `(${Math.round(r.requests / r.seconds)}/s), ${r.non2xx} non-2xx/3xx, socket errors ` +
    `connect ${e.connect} read ${e.read} write ${e.write} timeout ${e.timeout}, ` +
    `latency p50 ${r.latencyMs.p50} ms p99 ${r.latencyMs.p99} ms`;
}
