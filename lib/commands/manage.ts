/**
 * `djaploy manage`: manage.py in the live release, as the app user, with
 * the app's virtualenv and environment; a terminal on the host when ours is
 * one (createsuperuser, shell, dbshell). Its exit code is djaploy's.
 */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import type { Executor } from "../exec/executor.ts";
import type { HostConfig } from "../config/types.ts";
import { UsageError } from "../errors.ts";
import { layoutFor } from "../host/layout.ts";
import { liveManageCommand, liveTarget } from "../deploy/live_target.ts";
import { COMMON_FLAGS, ENV_FLAG } from "./common.ts";
import { HOST_FLAG, interactive, openHosts, readState, stdinIsTerminal } from "./remote_hosts.ts";

export const manageCommand: CommandDef = {
  name: "manage",
  summary:
    "Run manage.py in the live release: on one host, as the app user, with its virtualenv and environment; a terminal when interactive.",
  args: "-- ARGS...",
  flags: [ENV_FLAG, HOST_FLAG, ...COMMON_FLAGS],
};

/** manage.py's arguments: what follows `--` (words before it are taken too). */
export function manageArgs(args: Parsed): string[] {
  const words = [...args.positional, ...args.rest];
  if (words.length === 0) {
    throw new UsageError("Give manage.py's arguments after --: nothing to run", {
      hint: "Example: djaploy manage --env production -- createsuperuser",
    });
  }
  return words;
}

export async function runManage(opts: {
  host: HostConfig;
  exec: Executor;
  args: readonly string[];
  tty: boolean;
}): Promise<number> {
  const layout = layoutFor(opts.host);
  const target = liveTarget(opts.host, layout, await readState(opts.exec, opts.host));
  return await interactive(
    opts.exec,
    liveManageCommand(opts.host, layout, target, opts.args),
    { tty: opts.tty },
  );
}

export async function manage(ui: Ui, args: Parsed): Promise<number> {
  const words = manageArgs(args);
  const remote = await openHosts(ui, args.flags, "manage", { single: true });
  try {
    const host = remote.hosts[0];
    return await runManage({
      host,
      exec: remote.executor(host),
      args: words,
      tty: stdinIsTerminal(),
    });
  } finally {
    await remote.close();
  }
}
