/**
 * `unlock`: break a deploy lock whose run is gone, after saying whose it is.
 *
 * It needs no secrets and loads no modules (like the other day-2 commands),
 * so it works when `op` is missing or a custom module fails to load. It
 * signals a process only after checking, as root on the host and in the same
 * script as the kill, that this process holds the lock: the owner record is
 * a regular file in root's /run/djaploy/, its PID is digits only, the lock
 * is held, that PID has the lock file open as the holder does (fd 9), and its
 * start time is the one recorded (a PID reused by another process differs).
 */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS } from "./common.ts";
import { describeOwner, lockPath, type OwnerRecord, parseOwner } from "../host/deploy_lock.ts";
import { UsageError, UserError } from "../errors.ts";
import { shScript } from "../exec/remote_command.ts";
import type { Executor } from "../exec/executor.ts";
import { openHosts } from "./remote_hosts.ts";
import type { FactProbe } from "../host/facts.ts";
import { LOCK_BREAK_SH, LOCK_INSPECT_SH, LOCK_STATE_SH } from "./programs.gen.ts";

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

// lock_inspect.sh: $1 lock file. Prints "free" or "held", then the owner record (if it is a
// regular file in a folder only root writes). A free lock's record is stale:
// it is removed under the lock, so no new holder's record goes with it.

// lock_break.sh: $1 lock file, $2 PID, $3 its start time (may be empty). Signals the PID
// only if it is the lock's holder; prints what it found: freed, gone,
// not-holder <why>, or still-held.

export type LockState =
  | { readonly held: false }
  | { readonly held: true; readonly record: OwnerRecord };

function parseLockState(stdout: string): LockState {
  const [state, ...rest] = stdout.split("\n");
  if (state.trim() !== "held") return { held: false };
  return { held: true, record: parseOwner(rest.join("\n")) };
}

/** Whether the app's deploy lock is held on the host, and by whom its record says. */
export async function inspectLock(exec: Executor, appName: string): Promise<LockState> {
  const r = await exec.run({
    argv: shScript(LOCK_INSPECT_SH, lockPath(appName)),
    as: "root",
  });
  return parseLockState(r.stdout);
}

// lock_state.sh: $1 lock file. Prints the same as lock_inspect.sh, but never takes the lock to
// tell (held: the record's process lives, started when it says, with the lock file open as fd 9)
// and leaves a stale record alone: `status` may run while a deploy starts, and a deploy must never
// find the lock taken by a reader. A holder with no record yet reads as free.

/** Whether the lock is held and by whom, as a fact: `status` reads it with the rest of a host's state. */
export function lockStateProbe(appName: string): FactProbe<LockState> {
  return {
    name: `deploy-lock:${appName}`,
    argv: shScript(LOCK_STATE_SH, lockPath(appName)),
    parse: parseLockState,
  };
}

export type BreakResult = "freed" | "gone" | { readonly notHolder: string } | "still-held";

/** Ends the holder named by `record` after checking on the host that it holds the lock. */
export async function breakLock(
  exec: Executor,
  appName: string,
  record: OwnerRecord,
): Promise<BreakResult> {
  if (!record.pid) return { notHolder: "its owner record names no process" };
  const r = await exec.run({
    argv: shScript(LOCK_BREAK_SH, lockPath(appName), String(record.pid), record.started ?? ""),
    as: "root",
  });
  const out = r.stdout.trim();
  if (out === "freed" || out === "gone" || out === "still-held") return out;
  if (out.startsWith("not-holder ")) return { notHolder: out.slice("not-holder ".length) };
  throw new UserError(`Break the deploy lock on ${exec.host}: unexpected answer: ${out}`);
}

export async function unlock(ui: Ui, args: Parsed): Promise<number> {
  const remote = await openHosts(ui, args.flags, "unlock");
  let code = 0;
  try {
    for (const host of remote.hosts) {
      const exec = remote.executor(host);
      const state = await inspectLock(exec, host.app_name);
      if (!state.held) {
        ui.result(`${host.name}: no deploy lock is held`);
        continue;
      }
      const { record } = state;
      ui.result(`${host.name}: the deploy lock is held by ${describeOwner(record.owner)}`);
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
      const result = await breakLock(exec, host.app_name, record);
      if (result === "freed") ui.result(`${host.name}: lock broken`);
      else if (result === "gone") ui.result(`${host.name}: the holder had ended: no lock is held`);
      else {
        code = 1;
        ui.error(
          result === "still-held"
            ? `${host.name}: the holder was signalled but the lock is still held`
            : `${host.name}: not signalling PID ${record.pid ?? "?"}: ${result.notHolder}, ` +
              `so it is not the lock's holder`,
        );
        ui.error(
          `  hint: see who has it open on the host: sudo fuser -v ${lockPath(host.app_name)}`,
        );
      }
    }
    return code;
  } finally {
    await remote.close();
  }
}
