/**
 * Deploy announcements: a report of what went out (or what failed), turned
 * into a Slack incoming-webhook message or a plain JSON document
 * (templates/slack.ts, templates/webhook.ts) and POSTed with a timeout and
 * one retry. A slow or failing webhook never fails the deploy: the caller
 * gets a reason to show as a warning.
 */
import type { Secret } from "../secrets/secret.ts";
import { REDACTED } from "../secrets/secret.ts";
import { slackFailure, slackSuccess } from "../../templates/slack.ts";
import { webhookFailure, webhookSuccess } from "../../templates/webhook.ts";
import type { DeployReport, FailureReport } from "./report.ts";

export type { DeployReport, FailureReport, HostFailure } from "./report.ts";

export type NotificationKind = "slack" | "webhook";

export function successPayload(kind: NotificationKind, report: DeployReport): unknown {
  return kind === "slack" ? slackSuccess(report) : webhookSuccess(report);
}

export function failurePayload(kind: NotificationKind, report: FailureReport): unknown {
  return kind === "slack" ? slackFailure(report) : webhookFailure(report);
}

export interface PostResult {
  readonly ok: boolean;
  /** Why it failed (never the URL). */
  readonly reason?: string;
  readonly attempts: number;
}

/**
 * POSTs `body` as JSON to the webhook: up to two attempts, each with
 * `timeoutMs`, half a second apart. Never throws.
 */
export async function postJson(opts: {
  readonly url: Secret;
  readonly body: unknown;
  readonly timeoutMs: number;
  readonly retryDelayMs?: number;
  /** For tests; default the global fetch. */
  readonly fetch?: typeof fetch;
}): Promise<PostResult> {
  let reason = "";
  for (let attempt = 1; attempt <= 2; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 500));
    reason = await postOnce(opts);
    if (reason === "") return { ok: true, attempts: attempt };
  }
  return { ok: false, reason: `${reason} (after 2 attempts)`, attempts: 2 };
}

async function postOnce(opts: {
  url: Secret;
  body: unknown;
  timeoutMs: number;
  fetch?: typeof fetch;
}): Promise<string> {
  const url = opts.url.reveal();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
  try {
    const res = await (opts.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(opts.body),
      signal: abort.signal,
    });
    const text = await res.text();
    if (res.ok) return "";
    return `HTTP ${res.status}${text.trim() ? `: ${text.trim().slice(0, 120)}` : ""}`;
  } catch (err) {
    if (abort.signal.aborted) return `no answer within ${opts.timeoutMs / 1000} s`;
    const message = err instanceof Error ? err.message : String(err);
    // fetch's messages name the URL, and a webhook URL is a secret.
    return `cannot reach the webhook: ${message.split(url).join(REDACTED).slice(0, 160)}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Applies `mask` to every string in a JSON value (defence in depth: payloads never hold secrets). */
export function maskStrings<T>(value: T, mask: (text: string) => string): T {
  if (typeof value === "string") return mask(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskStrings(v, mask)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, maskStrings(v, mask)]),
    ) as T;
  }
  return value;
}
