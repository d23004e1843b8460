/**
 * Slack incoming-webhook messages for deploys: Block Kit blocks with a
 * `text` fallback (shown in notifications and by clients without blocks).
 * Limits respected: header 150 characters, a section's text 3000, a field
 * 2000, at most 10 fields.
 */
import type { DeployReport, FailureReport } from "../lib/release/report.ts";
import { VERSION } from "../lib/version.ts";

export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

/** Slack's mrkdwn needs &, < and > escaped; everything else is literal. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function field(label: string, value: string) {
  return { type: "mrkdwn", text: cut(`*${label}*\n${escapeMrkdwn(value)}`, 2000) };
}

function header(text: string) {
  return { type: "header", text: { type: "plain_text", text: cut(text, 150), emoji: true } };
}

function context(time: string) {
  return {
    type: "context",
    elements: [{ type: "mrkdwn", text: `djaploy ${VERSION} · ${time}` }],
  };
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function hostsText(hosts: readonly string[]): string {
  return hosts.length <= 10
    ? hosts.join(", ")
    : `${hosts.slice(0, 10).join(", ")} and ${hosts.length - 10} more`;
}

export function slackSuccess(r: DeployReport): SlackMessage {
  const what = r.version ?? r.commit.slice(0, 7);
  const n = r.hosts.length;
  return {
    text: `${r.app} ${what} deployed to ${r.environment} by ${r.deployedBy} (${n} host${
      n === 1 ? "" : "s"
    }, ${formatDuration(r.durationSeconds)})`,
    blocks: [
      header(`${r.app} ${what} deployed to ${r.environment}`),
      {
        type: "section",
        fields: [
          field("Environment", r.environment),
          field("Version", what),
          field("Commits", r.commitRange),
          field("Hosts", hostsText(r.hosts)),
          field("Strategy", r.strategy),
          field("Duration", formatDuration(r.durationSeconds)),
          field("Deployed by", r.deployedBy),
        ],
      },
      {
        type: "section",
        text: { type: "mrkdwn", text: cut(`*Changes*\n${escapeMrkdwn(r.changelog)}`, 3000) },
      },
      context(r.time),
    ],
  };
}

export function slackFailure(r: FailureReport): SlackMessage {
  const what = r.version ?? r.commit?.slice(0, 7) ?? "";
  const first = r.failures[0];
  const where = first ? `${first.host} at ${first.step}` : "an unknown step";
  const more = r.failures.length > 1 ? ` and ${r.failures.length - 1} more` : "";
  const errors = r.failures.map((f) =>
    `*${escapeMrkdwn(f.host)}* at ${escapeMrkdwn(f.step)}:\n` +
    "```" + escapeMrkdwn(f.error.replaceAll("```", "'''")) + "```"
  ).join("\n");
  return {
    text: `${r.app} ${what} deploy to ${r.environment} failed on ${where}${more}`.replace(
      /\s+/g,
      " ",
    ),
    blocks: [
      header(`${r.app} ${what} deploy to ${r.environment} failed`.replace(/\s+/g, " ")),
      {
        type: "section",
        fields: [
          field("Environment", r.environment),
          field("Version", what || "unknown"),
          field("Failed", r.failures.map((f) => f.host).join(", ") || "before any host"),
          field("Succeeded", r.succeededHosts.join(", ") || "none"),
          field("Duration", formatDuration(r.durationSeconds)),
          field("Deployed by", r.deployedBy),
        ],
      },
      { type: "section", text: { type: "mrkdwn", text: cut(errors || "No details.", 3000) } },
      context(r.time),
    ],
  };
}
