/**
 * The per-app deploy lock on each host. It is an flock held by a remote
 * shell that lives only as long as djaploy's SSH session and its heartbeat:
 * when djaploy ends, is killed, or loses the connection, the shell ends
 * (stdin closes, or 30 s pass without a heartbeat) and the lock is free. No
 * stale lock outlives its run; `djaploy unlock` exists for the rare case.
 */
import type { Executor, HeldCommand } from "./executor.ts";
import { UserError } from "./errors.ts";

const HEARTBEAT_MS = 10_000;

export interface LockOwner {
  /** user@machine */
  readonly holder: string;
  /** The djaploy command line, e.g. "deploy --env production". */
  readonly command: string;
  /** ISO 8601 time the lock was taken. */
  readonly since: string;
}

export function lockPath(appName: string): string {
  return `/run/djaploy/${appName}.lock`;
}

// $1 lock file, $2 owner (JSON), $3 seconds to wait. Prints LOCKED, or
// HELD <pid> <owner> and exits 75. Holds the lock while stdin stays open and
// heartbeats keep coming.
export const LOCK_SH = `lock=$1 owner=$2 wait=$3
mkdir -p "\${lock%/*}"
exec 9>>"$lock"
if [ "$wait" = 0 ]; then flock -n 9; else flock -w "$wait" 9; fi || {
  echo "HELD $(cat "$lock.owner" 2>/dev/null)"
  exit 75
}
printf '%s %s\\n' "$$" "$owner" > "$lock.owner"
echo LOCKED
while read -r -t 30 _; do :; done
rm -f "$lock.owner"`;

/** Parses the owner file's text: "<pid> <json>". */
export function parseOwner(text: string): { pid?: number; owner?: LockOwner } {
  const m = /^(\d+) (\{.*\})\s*$/.exec(text.trim());
  if (!m) return {};
  try {
    return { pid: Number(m[1]), owner: JSON.parse(m[2]) as LockOwner };
  } catch {
    return { pid: Number(m[1]) };
  }
}

export function describeOwner(owner: LockOwner | undefined, now = new Date()): string {
  if (!owner) return "an unknown run";
  const secs = Math.max(0, Math.round((now.getTime() - Date.parse(owner.since)) / 1000));
  return `${owner.holder} (djaploy ${owner.command}, since ${owner.since}, ${secs} s ago)`;
}

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireLock(
  exec: Executor,
  appName: string,
  owner: LockOwner,
  waitSeconds: number,
): Promise<HeldLock> {
  const held: HeldCommand = await exec.hold({
    argv: [
      "bash",
      "-c",
      LOCK_SH,
      "bash",
      lockPath(appName),
      JSON.stringify(owner),
      String(waitSeconds),
    ],
    as: "root",
  });
  const first = await held.readLine();
  if (first !== "LOCKED") {
    const result = await held.end();
    if (first?.startsWith("HELD")) {
      const { owner: other } = parseOwner(first.slice(5));
      throw new UserError(
        `Wait for the other run to finish: the deploy lock of ${appName} on ${exec.host} is held by ${
          describeOwner(other)
        }`,
        {
          hint:
            `Retry with --lock-wait SECONDS, or if that run is gone for good: djaploy unlock --env <env>`,
        },
      );
    }
    throw new UserError(
      `Take the deploy lock on ${exec.host}: the lock command failed (exit code ${result.code}): ${result.stderr.trim()}`,
    );
  }
  const timer = setInterval(() => void held.write("\n"), HEARTBEAT_MS);
  Deno.unrefTimer(timer);
  return {
    async release() {
      clearInterval(timer);
      await held.end();
    },
  };
}
