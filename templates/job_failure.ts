/**
 * The announcement of a failed scheduled job: a template unit
 * `{app}-notify-failure@.service` that each job's service names in
 * `OnFailure=`, and the Python program it runs. systemd starts it with the
 * failed unit as its instance and the run's outcome in MONITOR_* variables;
 * it POSTs a Slack incoming-webhook message or a JSON document (like
 * templates/slack.ts and templates/webhook.ts do for deploys) to the URL in
 * its credential. It runs as a dynamic user of its own, never root nor the
 * app user, and gets the URL through `LoadCredential=` from a root-only
 * file: no command line, environment or app-readable file holds it.
 */
import { hardening } from "./hardening.ts";
import { systemdQuote } from "./systemd_unit.ts";
import { processMarker } from "./process_units.ts";
import { JOB_FAILURE_PY } from "./programs.gen.ts";

/** Where the program lives on the host: root's, readable by the dynamic user. */
export const JOB_FAILURE_PY_PATH = "/usr/local/lib/djaploy/job_failure.py";

/** The credential's name inside the unit ($CREDENTIALS_DIRECTORY/webhook). */
export const WEBHOOK_CREDENTIAL = "webhook";

export { JOB_FAILURE_PY };

/** What the notifier says and where it finds the URL. */
export interface JobFailureUnitData {
  readonly appName: string;
  /** [notifications] display_name. */
  readonly displayName: string;
  readonly environment: string;
  readonly host: string;
  readonly kind: "slack" | "webhook";
  /** Seconds per attempt. */
  readonly timeout: number;
  /** The root-only file that holds the webhook URL. */
  readonly webhookFile: string;
  readonly version: string;
}

/** `{app}-notify-failure@.service`: the instance is the failed job's unit. */
export function jobFailureUnit(d: JobFailureUnitData): string {
  const env = (k: string, v: string) => `Environment=${systemdQuote(`${k}=${v}`)}`;
  return `${processMarker(d.appName)}
[Unit]
Description=${d.appName}: announce the failed scheduled job %i

[Service]
Type=oneshot
# Neither root nor the app user: a user of its own, for this run only.
DynamicUser=yes
LoadCredential=${WEBHOOK_CREDENTIAL}:${d.webhookFile}
${env("DJAPLOY_APP", d.displayName)}
${env("DJAPLOY_ENVIRONMENT", d.environment)}
${env("DJAPLOY_HOST", d.host)}
${env("DJAPLOY_UNIT_PREFIX", `${d.appName}-schedule-`)}
${env("DJAPLOY_KIND", d.kind)}
${env("DJAPLOY_TIMEOUT", String(d.timeout))}
${env("DJAPLOY_VERSION", d.version)}
ExecStart=/usr/bin/python3 ${JOB_FAILURE_PY_PATH} %i
TimeoutStartSec=${Math.ceil(d.timeout * 2 + 10)}
${hardening("notify", { writable: [] })}`;
}
