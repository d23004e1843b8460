/**
 * The JSON documents `kind = "webhook"` POSTs (documented in
 * docs/releases.md): one object per deploy, `event` saying which kind.
 * Keys are snake_case and stable; new keys may be added.
 */
import type { DeployReport, FailureReport } from "../lib/release/report.ts";
import { VERSION } from "../lib/version.ts";

export function webhookSuccess(r: DeployReport): Record<string, unknown> {
  return {
    event: "deploy.succeeded",
    app: r.app,
    project: r.project,
    environment: r.environment,
    version: r.version ?? null,
    tag: r.tag ?? null,
    commit: r.commit,
    ref: r.ref,
    previous_version: r.previousVersion ?? null,
    commit_range: r.commitRange,
    hosts: r.hosts,
    strategy: r.strategy,
    duration_seconds: Math.round(r.durationSeconds * 10) / 10,
    deployed_by: r.deployedBy,
    changelog: r.changelog,
    changelog_source: r.changelogSource,
    time: r.time,
    djaploy: VERSION,
  };
}

export function webhookFailure(r: FailureReport): Record<string, unknown> {
  return {
    event: "deploy.failed",
    app: r.app,
    project: r.project,
    environment: r.environment,
    version: r.version ?? null,
    commit: r.commit ?? null,
    ref: r.ref ?? null,
    hosts: r.hosts,
    succeeded_hosts: r.succeededHosts,
    failures: r.failures.map((f) => ({ host: f.host, step: f.step, error: f.error })),
    duration_seconds: Math.round(r.durationSeconds * 10) / 10,
    deployed_by: r.deployedBy,
    time: r.time,
    djaploy: VERSION,
  };
}
