/**
 * A deploy's announcements ([notifications]): what every report says (app,
 * environment, version, hosts, duration, who), and posting it to the
 * webhook. A webhook that fails is a warning: the deploy's result stands.
 */
import type { Session } from "../engine/session.ts";
import type { HostResult } from "../engine/runner.ts";
import { type HostFailure, maskStrings, postJson } from "./notify.ts";
import { errorExcerpt } from "../host/history_records.ts";
import { strategyTraits } from "../strategies/traits.ts";

/** What the run knows about itself from its start. */
export interface RunFacts {
  /** performance.now() at the start. */
  readonly startedAt: number;
  /** The lock owner's `user@machine`. */
  readonly who: string;
}

/** The fields every success and failure report starts with. */
export function reportBase(s: Session, run: RunFacts, version: string | undefined) {
  const notifications = s.project.notifications;
  return {
    app: notifications?.display_name ?? s.project.project_name,
    project: s.project.project_name,
    environment: s.env.name,
    version,
    hosts: s.hosts.map((h) => h.name),
    durationSeconds: (performance.now() - run.startedAt) / 1000,
    deployedBy: run.who,
    time: new Date().toISOString(),
  };
}

/** The strategies of the run's hosts, and whether bluegreen ones were only staged. */
export function strategyText(s: Session, activate: boolean | undefined): string {
  const names = [...new Set(s.hosts.map((h) => h.deployment_strategy))];
  const staged = !activate && s.hosts.some((h) => strategyTraits(h).stages);
  return names.join(", ") + (staged ? " (staged where not yet live: djaploy activate)" : "");
}

/** The failed hosts of a run, each with its step and a masked excerpt of its error. */
export function hostFailures(s: Session, results: readonly HostResult[]): HostFailure[] {
  return results.filter((r) => !r.ok).map((r) => ({
    host: r.host,
    step: r.failedStep ?? "unknown",
    error: errorExcerpt(r.error, (t) => s.ui.mask(t)),
  }));
}

/** Posts `body` (secrets masked) to the webhook; nothing in a dry run or without one. */
export async function announce(
  s: Session,
  kind: "success" | "failure",
  body: unknown,
): Promise<void> {
  const { ui } = s;
  const notifications = s.project.notifications;
  if (!notifications?.webhook_url || s.dryRun) return;
  const url = await s.secrets.secret(notifications.webhook_url, "notifications.webhook_url");
  const r = await postJson({
    url,
    body: maskStrings(body, (t) => ui.mask(t)),
    timeoutMs: notifications.timeout * 1000,
  });
  if (r.ok) {
    ui.line(
      `notified ${notifications.kind}: deploy ${kind === "success" ? "succeeded" : "failed"}`,
    );
  } else {
    ui.warn(
      `could not notify ${notifications.kind}: ${r.reason}; the deploy's result is unchanged`,
    );
  }
}
