/**
 * What a deploy announcement says: the data lib/release/notify.ts sends and the
 * templates (templates/slack.ts, templates/webhook.ts) render. Its own file
 * so the templates need not import the sender that imports them.
 */

/** A deploy that succeeded on every host. */
export interface DeployReport {
  /** [notifications] display_name. */
  readonly app: string;
  readonly project: string;
  readonly environment: string;
  readonly version?: string;
  /** The version tag created or reused, if any. */
  readonly tag?: string;
  readonly commit: string;
  /** What was deployed: a branch, a tag, or "local". */
  readonly ref: string;
  readonly previousVersion?: string;
  /** `v1.2.3..abc1234`, or the short commit when there is no earlier version. */
  readonly commitRange: string;
  readonly hosts: readonly string[];
  /** The hosts' strategies, e.g. "in_place" or "bluegreen (staged)". */
  readonly strategy: string;
  readonly durationSeconds: number;
  /** `user@machine`. */
  readonly deployedBy: string;
  readonly changelog: string;
  readonly changelogSource: "simple" | "llm" | "tag";
  /** ISO 8601, UTC. */
  readonly time: string;
}

export interface HostFailure {
  readonly host: string;
  readonly step: string;
  /** A short excerpt, secrets masked, never a command line. */
  readonly error: string;
}

/** A deploy that failed on at least one host (or before any host was touched). */
export interface FailureReport {
  readonly app: string;
  readonly project: string;
  readonly environment: string;
  readonly version?: string;
  readonly commit?: string;
  readonly ref?: string;
  readonly hosts: readonly string[];
  readonly succeededHosts: readonly string[];
  readonly failures: readonly HostFailure[];
  readonly durationSeconds: number;
  readonly deployedBy: string;
  readonly time: string;
}
