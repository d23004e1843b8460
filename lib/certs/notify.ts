/**
 * Where a failed certificate renewal is announced. Today: `[certificates]
 * notify_command`, a shell command on this machine that gets the message on
 * its standard input (mail, a chat webhook through curl, ...). The message is
 * masked like every other output: no secret, no key material.
 */
import { runProcess } from "../process.ts";

export interface FailureNotice {
  readonly env: string;
  readonly message: string;
}

/** Runs the notify command; returns a warning to show when it failed (never throws). */
export async function notifyFailure(
  command: string | undefined,
  notice: FailureNotice,
  mask: (text: string) => string,
): Promise<string | undefined> {
  if (!command) return undefined;
  try {
    const r = await runProcess("sh", ["-c", command], {
      stdin: mask(notice.message) + "\n",
      env: { DJAPLOY_EVENT: "renew-certs-failed", DJAPLOY_ENV: notice.env },
      signal: AbortSignal.timeout(60_000),
    });
    if (r.code !== 0) {
      return `notify_command exited with ${r.code}: ${
        mask(r.stderr.trim().split("\n").pop() ?? "")
      }`;
    }
  } catch (err) {
    return `notify_command could not run: ${err instanceof Error ? err.message : err}`;
  }
  return undefined;
}
