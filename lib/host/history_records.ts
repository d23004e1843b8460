/**
 * Deploy history: every deploy, activate and rollback appends one JSON line
 * per host it touched to /var/lib/djaploy/apps/<app>/history.jsonl (root's),
 * on success and on failure. `djaploy history` reads them back across hosts.
 */
import * as remotePath from "../remote_path.ts";
import type { Step, StepContext } from "../engine/module_api.ts";
import type { Layout } from "./layout.ts";
import type { FactProbe } from "./facts.ts";
import { shScript } from "../exec/remote_command.ts";
import { deployVersion } from "../deploy/version_file.ts";
import { parseDeployState, stateProbe } from "../deploy/steps.ts";
import { CommandError, exitCodeMeaning, lastLines, UserError } from "../errors.ts";
import { formatMs, table } from "../output/ui.ts";
import { HISTORY_APPEND_SH } from "./programs.gen.ts";
import { textOrder } from "../order.ts";

export interface HistoryRecord {
  /** When the command finished on the host, ISO 8601 UTC. */
  readonly time: string;
  readonly host: string;
  /** `user@machine`. */
  readonly who: string;
  readonly command: string;
  readonly env: string;
  readonly version?: string;
  readonly commit?: string;
  readonly ref?: string;
  readonly release?: string;
  readonly strategy: string;
  readonly result: "ok" | "failed";
  /** Seconds from the command's start until this host was done. */
  readonly duration_s: number;
  /** Where it failed. */
  readonly step?: string;
  /** A short excerpt, secrets masked, never a command line. */
  readonly error?: string;
}

/** What is deployed, as a record's version/commit/ref/release. */
export type Deployed = Pick<HistoryRecord, "version" | "commit" | "ref" | "release">;

export interface HistoryOptions {
  readonly command: string;
  readonly who: string;
  /** performance.now() when the command started. */
  readonly startedAt: number;
  /** The secret mask of the run's output. */
  readonly mask: (text: string) => string;
  /**
   * What the host runs after the command; default: the deploy's release.
   * activate and rollback read the host's state instead.
   */
  readonly deployed?: (ctx: StepContext) => Promise<Deployed>;
}

export function historyFile(layout: Layout): string {
  return remotePath.join(layout.recordsDir, "history.jsonl");
}

/** A failure as one short line: exit code and the last lines of error output, never the command. */
export function errorExcerpt(err: unknown, mask: (text: string) => string, max = 300): string {
  let text: string;
  if (err instanceof CommandError) {
    const tail = lastLines(err.stderr, 2).replace(/\s*\n\s*/g, " / ");
    text = `exit code ${err.code} (${exitCodeMeaning(err.code)})${tail ? `: ${tail}` : ""}`;
  } else if (err instanceof UserError) {
    text = err.message.split("\n")[0];
  } else if (err instanceof Error) {
    text = `${err.name}: ${err.message.split("\n")[0]}`;
  } else {
    text = String(err);
  }
  text = mask(text);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** What a deploy put on the host: its release and version. */
export function deployedRelease(ctx: StepContext): Deployed {
  return {
    version: deployVersion(ctx)?.version,
    commit: ctx.release?.commit,
    ref: ctx.release?.ref,
    release: ctx.release?.name,
  };
}

/** What the host's state.json says runs now (activate, rollback). */
export async function deployedFromState(ctx: StepContext): Promise<Deployed> {
  const r = await ctx.exec.run({
    argv: stateProbe(ctx.layout).argv,
    as: "root",
    readOnly: true,
    okCodes: [0, 1],
  });
  const state = r.code === 0 ? parseDeployState(r.stdout, ctx.layout) : undefined;
  if (!state) return {};
  return { version: state.version, commit: state.commit, ref: state.ref, release: state.release };
}

export { HISTORY_APPEND_SH };

/**
 * Appends one record to the host's history file (root's record). Where the
 * deploy lock's shell runs commands, as its last (runAtEnd): no answer to
 * read, one read and one wake-up per host fewer. That settles once the lock
 * is given back, after the last step, so it is not awaited: `failed` hears
 * of a failure then. Elsewhere it runs now, and a failure throws.
 */
async function appendHistory(
  ctx: StepContext,
  record: HistoryRecord,
  failed: (err: unknown) => void,
): Promise<void> {
  const cmd = {
    argv: shScript(HISTORY_APPEND_SH, historyFile(ctx.layout)),
    as: "root",
    stdin: JSON.stringify(record) + "\n",
  };
  if (ctx.exec.runAtEnd) ctx.exec.runAtEnd(cmd).catch(failed);
  else await ctx.exec.run(cmd);
}

async function record(
  ctx: StepContext,
  opts: HistoryOptions,
  outcome: { step?: string; error?: unknown },
): Promise<void> {
  // The history must never change a command's outcome.
  const failed = (err: unknown) => {
    const say = outcome.error === undefined ? ctx.log.warn : ctx.log.debug;
    say(`could not append to the history: ${errorExcerpt(err, opts.mask)}`);
  };
  try {
    const deployed = await (opts.deployed ?? ((c) => Promise.resolve(deployedRelease(c))))(ctx);
    await appendHistory(ctx, {
      time: new Date().toISOString(),
      host: ctx.host.name,
      who: opts.who,
      command: opts.command,
      env: ctx.env.name,
      ...deployed,
      strategy: ctx.host.deployment_strategy,
      result: outcome.error === undefined ? "ok" : "failed",
      duration_s: Math.round((performance.now() - opts.startedAt) / 100) / 10,
      ...(outcome.error === undefined
        ? {}
        : { step: outcome.step, error: errorExcerpt(outcome.error, opts.mask) }),
    }, failed);
  } catch (err) {
    failed(err);
  }
}

/**
 * The steps, each recording a failure in the history before it is reported,
 * the last one recording success after it ran. No extra step, no extra
 * output; one command per host.
 */
export function withHistory(steps: readonly Step[], opts: HistoryOptions): Step[] {
  return steps.map((step, i) => ({
    name: step.name,
    async run(ctx) {
      try {
        await step.run(ctx);
      } catch (error) {
        await record(ctx, opts, { step: step.name, error });
        throw error;
      }
      if (i === steps.length - 1) await record(ctx, opts, {});
    },
    // A run that stops before this step says so in the history too.
    notStarted: (ctx, reason) =>
      record(ctx, opts, { step: `${step.name} (not started)`, error: reason }),
  }));
}

/** The last `limit` records of a host's history file. */
export function historyProbe(layout: Layout, limit: number): FactProbe<HistoryRecord[]> {
  return {
    name: "history",
    argv: ["tail", "-n", String(limit), "--", historyFile(layout)],
    parse: (out, code) => (code === 0 ? parseHistory(out) : []),
  };
}

/** Parses JSON lines; lines that are not records are skipped. */
export function parseHistory(text: string): HistoryRecord[] {
  const out: HistoryRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (r && typeof r.time === "string" && typeof r.command === "string") out.push(r);
    } catch {
      // A torn line (a full disk, a killed run): skip it.
    }
  }
  return out;
}

/** Records of several hosts, newest first, at most `limit`. */
export function mergeHistory(
  perHost: readonly (readonly HistoryRecord[])[],
  limit: number,
): HistoryRecord[] {
  return perHost.flat().sort((a, b) => textOrder(b.time, a.time)).slice(0, limit);
}

/** The table `djaploy history` prints. */
export function historyTable(records: readonly HistoryRecord[]): string[] {
  const rows = [["time (UTC)", "host", "command", "version", "commit", "result", "took", "who"]];
  for (const r of records) {
    rows.push([
      r.time.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      r.host,
      r.command,
      r.version ?? "-",
      r.commit?.slice(0, 7) ?? "-",
      r.result === "ok" ? "ok" : `failed at ${r.step ?? "?"}`,
      formatMs(r.duration_s * 1000),
      r.who,
    ]);
  }
  return table(rows);
}
