/**
 * `djaploy ssh`: an interactive shell on one host, as the ssh user (with
 * the inventory's address, port, key and known_hosts), or with --app-user
 * as the app user in the app's folder. Its exit code is djaploy's.
 */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import type { HostConfig } from "../config/types.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import { UsageError } from "../errors.ts";
import { layoutFor } from "../host/layout.ts";
import { COMMON_FLAGS, ENV_FLAG } from "./common.ts";
import { HOST_FLAG, interactive, openHosts, stdinIsTerminal } from "./remote_hosts.ts";

export const sshCommand: CommandDef = {
  name: "ssh",
  summary:
    "Open a shell on one host: as the ssh user, or --app-user as the app user in its folder.",
  flags: [
    ENV_FLAG,
    HOST_FLAG,
    {
      name: "app-user",
      type: "boolean",
      description: "A login shell as the app user, in /home/<app_user>/apps/<app_name>",
    },
    ...COMMON_FLAGS,
  ],
};

/** The shell to start: the ssh user's own login shell (no command), or the app user's. */
export function shellCommand(host: HostConfig, appUser: boolean): RemoteCommand {
  if (!appUser) return { argv: [] };
  return { argv: ["bash", "-l"], as: host.app_user, cwd: layoutFor(host).appDir };
}

export async function ssh(ui: Ui, args: Parsed): Promise<number> {
  if (args.positional.length || args.rest.length) {
    throw new UsageError("djaploy ssh opens a shell and runs no command", {
      hint: "To run a command: djaploy exec --env <env> -- COMMAND",
    });
  }
  const remote = await openHosts(ui, args.flags, "ssh", { single: true });
  try {
    const host = remote.hosts[0];
    return await interactive(
      remote.executor(host),
      shellCommand(host, Boolean(args.flags["app-user"])),
      { tty: stdinIsTerminal() },
    );
  } finally {
    await remote.close();
  }
}
