/** `update-certs`: issues or renews the certificates that are due. */
import type { CommandDef, Parsed } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS, withEnv } from "./common.ts";
import { issueDue } from "../certs/issue.ts";
import { outcomeLine, reportFailures } from "./cert_report.ts";

export const updateCertsCommand: CommandDef = {
  name: "update-certs",
  aliases: ["update_certs"],
  summary: "Issue or renew the certificates that are due (Let's Encrypt or any ACME server).",
  flags: [
    ...HOST_FLAGS,
    { name: "force", type: "boolean", description: "Renew even when not due" },
    {
      name: "staging",
      type: "boolean",
      description: "Use Let's Encrypt's staging server (untrusted certificates, high limits)",
    },
    ...COMMON_FLAGS,
  ],
};

export async function updateCerts(ui: Ui, args: Parsed): Promise<number> {
  const flags = await withEnv(args.flags, "update-certs");
  const s = await openSession(ui, flags, "update-certs");
  try {
    const run = await issueDue(s, {
      force: Boolean(flags.force),
      staging: Boolean(flags.staging),
      onWait: () => ui.line("waiting for another certificate run to finish"),
    });
    for (const o of run.outcomes) ui.result(outcomeLine(o));
    const failed = reportFailures(ui, run.outcomes, run.hostResults).length > 0;
    const issued = run.outcomes.some((o) => o.action === "issued" || o.action === "renewed");
    if (issued && s.env.certificates!.issue_on === "controller") {
      ui.result(`next: djaploy sync-certs --env ${s.env.name} (puts them on the servers)`);
    }
    return failed ? 1 : 0;
  } finally {
    await s.close();
  }
}
