/**
 * `djaploy logs`: journalctl of the app's units on its hosts: the web unit
 * that serves now (the active slot's for zero_downtime and bluegreen) and
 * the other `services`, the `[processes]` and `[[schedule]]` jobs, or the one
 * SERVICE named (a process or job by its name). `-f` follows one host.
 */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import type { Executor } from "../exec/executor.ts";
import type { HostConfig } from "../config/types.ts";
import { UsageError, UserError } from "../errors.ts";
import { layoutFor } from "../host/layout.ts";
import { appUnits, liveTarget, unitFor } from "../deploy/live_target.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import { COMMON_FLAGS, ENV_FLAG } from "./common.ts";
import {
  eachHost,
  HOST_FLAG,
  interactive,
  openHosts,
  readState,
  stdinIsTerminal,
} from "./remote_hosts.ts";

export const DEFAULT_LINES = 100;

export const logsCommand = {
  name: "logs",
  summary:
    "Show the journal of the app's units: the live slot's for zero_downtime and bluegreen; -f follows one host.",
  args: "[SERVICE]",
  flags: [
    ENV_FLAG,
    { ...HOST_FLAG, description: "Only this host (default: every host; -f: the first)" },
    { name: "follow", short: "f", type: "boolean", description: "Keep printing new lines" },
    {
      name: "lines",
      short: "n",
      type: "number",
      valueName: "N",
      description: `How many of the last lines (default ${DEFAULT_LINES})`,
    },
    {
      name: "since",
      type: "string",
      valueName: "TIME",
      description: 'Only lines since TIME (journalctl --since: "1 hour ago", "2026-01-31 12:00")',
    },
    ...COMMON_FLAGS,
  ],
} as const satisfies CommandDef;

export interface LogsOptions {
  readonly service?: string;
  readonly follow: boolean;
  readonly lines: number;
  readonly since?: string;
}

/** The journalctl command for a host, given where its live release runs. */
export function journalCommand(units: readonly string[], opts: LogsOptions): RemoteCommand {
  const argv = ["journalctl", "--no-pager", "-n", String(opts.lines)];
  if (opts.since) argv.push("--since", opts.since);
  if (opts.follow) argv.push("-f");
  for (const u of units) argv.push("-u", u);
  return { argv, as: "root" };
}

async function hostUnits(exec: Executor, host: HostConfig, service?: string): Promise<string[]> {
  const target = liveTarget(host, layoutFor(host), await readState(exec, host));
  return service ? [unitFor(host, target, service)] : appUnits(host, target);
}

/** Follows one host's journal, attached to the terminal; returns when it is interrupted. */
export async function followLogs(opts: {
  host: HostConfig;
  exec: Executor;
  logs: LogsOptions;
  tty: boolean;
  /** Aborted when djaploy was told to stop (Ctrl-C, SIGTERM). */
  signal?: AbortSignal;
}): Promise<number> {
  const units = await hostUnits(opts.exec, opts.host, opts.logs.service);
  const code = await interactive(opts.exec, journalCommand(units, opts.logs), { tty: opts.tty });
  // Stopped by Ctrl-C or SIGTERM: that is how following ends, not a failure.
  return opts.signal?.aborted || code === 130 ? 0 : code;
}

/** Prints each host's last lines; with several hosts each line starts with the host's name. */
export async function showLogs(opts: {
  ui: Ui;
  hosts: readonly HostConfig[];
  executor: (host: HostConfig) => Executor;
  logs: LogsOptions;
}): Promise<number> {
  const { ui } = opts;
  const width = Math.max(...opts.hosts.map((h) => h.name.length));
  const results = await eachHost(opts.hosts, async (host) => {
    const exec = opts.executor(host);
    const units = await hostUnits(exec, host, opts.logs.service);
    return (await exec.run(journalCommand(units, opts.logs))).stdout;
  });
  let code = 0;
  for (const [i, host] of opts.hosts.entries()) {
    const r = results[i];
    if (r.status === "rejected") {
      code = 1;
      const err = r.reason;
      ui.error(`${host.name}: ${err instanceof Error ? err.message : String(err)}`);
      if (err instanceof UserError && err.hint) ui.error(`  hint: ${err.hint}`);
      continue;
    }
    const prefix = opts.hosts.length > 1 ? ui.bold(`${host.name.padEnd(width)} | `) : "";
    for (const line of r.value.replace(/\n$/, "").split("\n")) {
      if (line !== "" || prefix === "") ui.result(`${prefix}${line}`);
    }
  }
  return code;
}

export async function logs(ui: Ui, args: ParsedFor<typeof logsCommand>): Promise<number> {
  if (args.positional.length + args.rest.length > 1) {
    throw new UsageError(
      `Name at most one service: got ${[...args.positional, ...args.rest].join(" ")}`,
      { hint: "djaploy logs --env production [SERVICE]" },
    );
  }
  const follow = Boolean(args.flags.follow);
  const opts: LogsOptions = {
    service: args.positional[0] ?? args.rest[0],
    follow,
    lines: args.flags.lines ?? DEFAULT_LINES,
    since: args.flags.since,
  };
  const remote = await openHosts(ui, args.flags, "logs", { single: follow });
  try {
    if (follow) {
      const host = remote.hosts[0];
      return await followLogs({
        host,
        exec: remote.executor(host),
        logs: opts,
        tty: stdinIsTerminal(),
        signal: remote.signal,
      });
    }
    return await showLogs({
      ui,
      hosts: remote.hosts,
      executor: (h) => remote.executor(h),
      logs: opts,
    });
  } finally {
    await remote.close();
  }
}
