/**
 * The per-app deploy lock on each host. It is an flock held by a remote
 * shell that lives only as long as djaploy's SSH session and its heartbeat:
 * when djaploy ends, is killed, or loses the connection, the shell ends
 * (stdin closes, or 30 s pass without a heartbeat) and the lock is free. No
 * stale lock outlives its run; `djaploy unlock` exists for the rare case.
 */
import type { Executor, HeldCommand } from "./executor.ts";
import { UserError } from "./errors.ts";
import { marker } from "./marker.ts";

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

// $1 lock file, $2 owner (JSON), $3 seconds to wait, $4 a script to run once
// locked (optional), $5 the mark that ends its output (a nonce per run:
// lib/marker.ts). Prints LOCKED, the script's output and `<mark> <exit code>`,
// or HELD <pid> <owner> and exits 75. Holds the lock while stdin stays open
// and heartbeats keep coming.
export const LOCK_SH = `lock=$1 owner=$2 wait=$3
mkdir -p "\${lock%/*}"
exec 9>>"$lock"
if [ "$wait" = 0 ]; then flock -n 9; else flock -w "$wait" 9; fi || {
  echo "HELD $(cat "$lock.owner" 2>/dev/null)"
  exit 75
}
printf '%s %s\\n' "$$" "$owner" > "$lock.owner"
echo LOCKED
if [ -n "$4" ]; then sh -c "$4" 9>&- </dev/null; printf '\\n%s %s\\n' "$5" "$?"; fi
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
  /** What the `then` script printed, and its exit code. */
  readonly then?: { readonly stdout: string; readonly code: number };
  release(): Promise<void>;
}

/**
 * Takes the app's deploy lock on a host. `then`, a script, runs as root in
 * the same round trip once the lock is held: a run reads the host's state
 * (facts) that way, after the lock and without another command.
 */
export async function acquireLock(
  exec: Executor,
  appName: string,
  owner: LockOwner,
  waitSeconds: number,
  then?: string,
): Promise<HeldLock> {
  const end = marker("locked-end");
  const held: HeldCommand = await exec.hold({
    argv: [
      "bash",
      "-c",
      LOCK_SH,
      "bash",
      lockPath(appName),
      JSON.stringify(owner),
      String(waitSeconds),
      ...(then ? [then, end] : []),
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
    then: then === undefined ? undefined : await readThen(held, end),
    async release() {
      clearInterval(timer);
      await held.end();
    },
  };
}

/** Reads the `then` script's output, up to its end mark. */
async function readThen(
  held: HeldCommand,
  end: string,
): Promise<{ stdout: string; code: number }> {
  const lines: string[] = [];
  for (let line = await held.readLine(); line !== undefined; line = await held.readLine()) {
    const m = new RegExp(`^${end} (\\d+)$`).exec(line);
    // The mark starts with a newline of its own, which is not the script's.
    if (m) return { stdout: lines.map((l) => `${l}\n`).join("").slice(0, -1), code: Number(m[1]) };
    lines.push(line);
  }
  return { stdout: lines.join("\n"), code: 255 };
}
