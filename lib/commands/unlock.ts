/** `unlock`: break a deploy lock whose run is gone, after saying whose it is. */
import type { CommandDef, Parsed } from "../cli_args.ts";
import { openSession } from "../session.ts";
import type { Ui } from "../ui.ts";
import { COMMON_FLAGS, HOST_FLAGS } from "./common.ts";
import { describeOwner, lockPath, parseOwner } from "../lock.ts";
import { UsageError } from "../errors.ts";
import { shScript } from "../remote_command.ts";

export const unlockCommand: CommandDef = {
  name: "unlock",
  summary:
    "Break the deploy lock on the hosts (it names the holder first; --yes when not on a terminal).",
  flags: [
    ...HOST_FLAGS,
    { name: "yes", short: "y", type: "boolean", description: "Do not ask" },
    ...COMMON_FLAGS,
  ],
};

export async function unlock(ui: Ui, args: Parsed): Promise<number> {
  const s = await openSession(ui, args.flags, "unlock");
  let code = 0;
  try {
    for (const [i, host] of s.hosts.entries()) {
      const exec = s.executor(host, i);
      const owner = await exec.run({
        argv: ["cat", `${lockPath(host.app_name)}.owner`],
        as: "root",
        okCodes: [0, 1],
        readOnly: true,
      });
      const { pid, owner: who } = parseOwner(owner.stdout);
      if (!pid) {
        ui.result(`${host.name}: no deploy lock is held`);
        continue;
      }
      ui.result(`${host.name}: the deploy lock is held by ${describeOwner(who)}`);
      if (!args.flags.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UsageError("Add --yes to break the lock without a terminal to ask on");
        }
        if (!confirm(`Break the lock on ${host.name}?`)) {
          code = 1;
          continue;
        }
      }
      // Ending the holder's shell closes the lock's file: the lock is free.
      await exec.run({
        argv: shScript(
          'kill "$1" 2>/dev/null; rm -f "$2"',
          String(pid),
          `${lockPath(host.app_name)}.owner`,
        ),
        as: "root",
      });
      ui.result(`${host.name}: lock broken`);
    }
    return code;
  } finally {
    await s.close();
  }
}
