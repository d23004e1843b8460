/** What the certificate commands print: a certificate in a line, an issue outcome, failures. */
import type { Ui } from "../output/ui.ts";
import { UserError } from "../errors.ts";
import type { HostResult } from "../engine/runner.ts";
import type { IssueOutcome } from "../certs/issue.ts";
import { type CertInfo, daysLeft, isoDay } from "../certs/x509.ts";

export function describeCert(info: CertInfo | undefined): string {
  if (!info) return "none";
  return `valid until ${isoDay(info.notAfter)} (${daysLeft(info)} days), serial ${info.serial}${
    info.selfSigned ? ", self-signed" : ""
  }`;
}

export function outcomeLine(o: IssueOutcome): string {
  const where = o.where === "controller" ? "" : ` on ${o.where}`;
  if (o.action === "current") return `${o.name}${where}: current, ${describeCert(o.info)}`;
  if (o.action === "failed") return `${o.name}${where}: FAILED (${o.reason ?? "error"})`;
  return `${o.name}${where}: ${o.action} (${o.reason}), ${describeCert(o.info)}`;
}

export function reportFailures(
  ui: Ui,
  outcomes: readonly IssueOutcome[],
  hosts: readonly HostResult[],
) {
  const messages: string[] = [];
  for (const o of outcomes) {
    if (o.action !== "failed") continue;
    const e = o.error;
    messages.push(e instanceof Error ? e.message : String(e));
    if (e instanceof UserError && e.hint) messages.push(`  hint: ${e.hint}`);
  }
  for (const r of hosts) {
    if (r.ok) continue;
    const e = r.error;
    messages.push(`${r.host}: ${r.failedStep}: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof UserError && e.hint) messages.push(`  hint: ${e.hint}`);
  }
  for (const m of messages) ui.error(m);
  return messages;
}
