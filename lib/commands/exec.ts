/**
 * `djaploy exec`: one command on every host of an environment at once, each
 * output line prefixed with its host's name as it arrives. The command is an
 * argv (no shell: `-- sh -c '...'` for pipes). Exit code: the host's own with
 * one host, else 1 when any host failed.
 */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import type { Executor } from "../exec/executor.ts";
import type { HostConfig } from "../config/types.ts";
import { UsageError } from "../errors.ts";
import { layoutFor } from "../host/layout.ts";
import { type RemoteCommand, shScript } from "../exec/remote_command.ts";
import { COMMON_FLAGS, ENV_FLAG, HOSTS_FLAG } from "./common.ts";
import { openHosts } from "./remote_hosts.ts";

export const execCommand: CommandDef = {
  name: "exec",
  summary:
    "Run a command on every host at once: output prefixed with the host's name, non-zero if any host failed.",
  args: "-- COMMAND [ARGS...]",
  flags: [
    ENV_FLAG,
    HOSTS_FLAG,
    {
      name: "app-user",
      type: "boolean",
      description: "Run as the app user, with the app's environment, in the app's folder",
    },
    ...COMMON_FLAGS,
  ],
};

/**
 * What runs on a host: the command with stderr joined to stdout (one prefixed
 * stream) and no stdin (several hosts cannot share ours).
 */
export function execCommandFor(host: HostConfig, argv: readonly string[], appUser: boolean) {
  const layout = layoutFor(host);
  const command: RemoteCommand = appUser
    ? {
      argv: shScript('exec "$@" </dev/null 2>&1', layout.runScript, ...argv),
      as: host.app_user,
      cwd: layout.appDir,
    }
    : { argv: shScript('exec "$@" </dev/null 2>&1', ...argv) };
  return command;
}

export interface ExecOutcome {
  readonly host: string;
  readonly code: number;
  readonly error?: string;
}

/** Runs the command on each host (all at once) and prints its lines as they come. */
export async function runExec(opts: {
  ui: Ui;
  hosts: readonly HostConfig[];
  executor: (host: HostConfig) => Executor;
  argv: readonly string[];
  appUser: boolean;
}): Promise<ExecOutcome[]> {
  const { ui } = opts;
  const width = Math.max(...opts.hosts.map((h) => h.name.length));
  return await Promise.all(opts.hosts.map(async (host): Promise<ExecOutcome> => {
    const prefix = `${host.name.padEnd(width)} | `;
    try {
      const held = await opts.executor(host).hold(
        execCommandFor(host, opts.argv, opts.appUser),
      );
      for (let line = await held.readLine(); line !== undefined; line = await held.readLine()) {
        ui.result(`${ui.bold(prefix)}${line}`);
      }
      const end = await held.end();
      if (end.stdout) {
        for (const line of end.stdout.replace(/\n$/, "").split("\n")) {
          ui.result(`${ui.bold(prefix)}${line}`);
        }
      }
      const why = lastLine(end.stderr);
      if (end.code !== 0 && why) {
        return { host: host.name, code: end.code, error: `exit code ${end.code}: ${why}` };
      }
      return { host: host.name, code: end.code };
    } catch (err) {
      return {
        host: host.name,
        code: 255,
        error: err instanceof Error ? err.message : String(err),
      };
    }
  }));
}

function lastLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).pop() ?? "";
}

export function exitCodeOf(outcomes: readonly ExecOutcome[]): number {
  if (outcomes.length === 1) return outcomes[0].code;
  return outcomes.every((o) => o.code === 0) ? 0 : 1;
}

export async function exec(ui: Ui, args: Parsed): Promise<number> {
  const argv = [...args.positional, ...args.rest];
  if (argv.length === 0) {
    throw new UsageError("Give the command to run after --: nothing to run", {
      hint: "Example: djaploy exec --env production -- uptime",
    });
  }
  const remote = await openHosts(ui, args.flags, "exec");
  try {
    const outcomes = await runExec({
      ui,
      hosts: remote.hosts,
      executor: (h) => remote.executor(h),
      argv,
      appUser: Boolean(args.flags["app-user"]),
    });
    const failed = outcomes.filter((o) => o.code !== 0);
    for (const o of failed) {
      ui.error(`${o.host}: ${o.error ?? `exit code ${o.code}`}`);
    }
    if (failed.length && outcomes.length > 1) {
      ui.error(`${failed.length} of ${outcomes.length} hosts failed`);
    }
    return exitCodeOf(outcomes);
  } finally {
    await remote.close();
  }
}
