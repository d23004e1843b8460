/**
 * Where a failed certificate renewal is announced: the [notifications]
 * webhook (Slack or JSON) when one is configured with notify_on_failure, and
 * `[certificates] notify_command`, a shell command on this machine that gets
 * the message on its standard input (mail, ...). The message is masked like
 * every other output: no secret, no key material.
 */
import { runProcess } from "../exec/process.ts";
import { postJson } from "../release/notify.ts";
import type { Secret } from "../secrets/secret.ts";

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

/** The [notifications] endpoint, when configured: where a failed renewal is announced too. */
export interface WebhookTarget {
  readonly kind: "slack" | "webhook";
  readonly url: Secret;
  readonly timeoutSeconds: number;
  readonly app: string;
}

/** The JSON a failed renewal posts: Slack's incoming-webhook format, or djaploy's webhook document. */
export function renewalFailurePayload(target: WebhookTarget, notice: FailureNotice): unknown {
  const title = `${target.app}: certificate renewal failed in ${notice.env}`;
  if (target.kind === "slack") {
    return {
      text: `${title}\n${notice.message}`,
      blocks: [
        { type: "header", text: { type: "plain_text", text: title.slice(0, 150) } },
        {
          type: "section",
          text: { type: "mrkdwn", text: "```" + notice.message.slice(0, 2900) + "```" },
        },
      ],
    };
  }
  return {
    event: "certificates.renewal_failed",
    app: target.app,
    environment: notice.env,
    message: notice.message,
    time: new Date().toISOString(),
  };
}

/** Posts the failure to the [notifications] webhook; returns a warning when that failed (never throws). */
export async function notifyWebhook(
  target: WebhookTarget | undefined,
  notice: FailureNotice,
  mask: (text: string) => string,
): Promise<string | undefined> {
  if (!target) return undefined;
  const masked = { ...notice, message: mask(notice.message) };
  const r = await postJson({
    url: target.url,
    body: renewalFailurePayload(target, masked),
    timeoutMs: target.timeoutSeconds * 1000,
  });
  return r.ok ? undefined : `could not notify ${target.kind}: ${r.reason}`;
}
