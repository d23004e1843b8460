/** `renew-certs`: update-certs and sync-certs in one run, for cron. */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { EnvironmentConfig, HostConfig } from "../config/types.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS } from "./common.ts";
import { UserError } from "../errors.ts";
import { type HostResult, runOnHosts } from "../engine/runner.ts";
import { certificateHosts, hasTailnetCertificate, planDomains } from "../certs/plan.ts";
import { issueDue, type IssueRun, storeOf } from "../certs/issue.ts";
import { acquireLocalLock } from "../certs/issue_lock.ts";
import { notifyFailure, notifyWebhook } from "../certs/notify.ts";
import { describeCert, reportFailures } from "./cert_report.ts";
import { incoming, needsAcme, syncNotes, syncPlan } from "./sync_certs.ts";

export const renewCertsCommand: CommandDef = {
  name: "renew-certs",
  aliases: ["renew_certs"],
  summary:
    "Update and sync the certificates in one run, for cron (silent unless something changed, exit 1 on failure).",
  flags: [...HOST_FLAGS, ...COMMON_FLAGS],
};

/**
 * renew-certs, after issuing: the hosts that install. issue_on = "controller": every host with a
 * certificate (what an earlier run renewed but could not install, too). "server": certbot's run
 * on the servers installed already (`reached`); the other hosts with a tailscale certificate
 * refresh it here.
 */
export function hostsToInstall(
  env: EnvironmentConfig,
  hosts: readonly HostConfig[],
  reached: readonly string[],
): HostConfig[] {
  const controller = env.certificates?.issue_on === "controller";
  return certificateHosts(env, hosts).filter((h) =>
    controller || (hasTailnetCertificate(h) && !reached.includes(h.name))
  );
}

function changesOf(results: readonly HostResult[]): string[] {
  return results.flatMap((r) => r.steps.some((st) => st.changes.length) ? [r.host] : []);
}

/**
 * For cron: no output when nothing was due and every host already has its
 * certificates; one line when something changed; messages, the notify
 * command and exit code 1 when anything failed.
 */
export async function renewCerts(ui: Ui, args: Parsed): Promise<number> {
  const quiet = args.flags.verbose ? ui : ui.withVerbosity("quiet");
  const s = await openSession(quiet, args.flags, "renew-certs");
  const certsConfig = s.env.certificates;
  const fail = async (messages: string[]) => {
    const notice = {
      env: s.env.name,
      message: `djaploy renew-certs --env ${s.env.name} failed:\n${messages.join("\n")}`,
    };
    const n = s.project.notifications;
    const target = n?.notify_on_failure && n.webhook_url
      ? {
        kind: n.kind,
        url: await s.secrets.secret(n.webhook_url, "notifications.webhook_url"),
        timeoutSeconds: n.timeout,
        app: n.display_name,
      }
      : undefined;
    for (
      const warning of [
        await notifyWebhook(target, notice, (t) => ui.mask(t)),
        await notifyFailure(certsConfig?.notify_command, notice, (t) => ui.mask(t)),
      ]
    ) if (warning) ui.warn(warning);
    return 1;
  };
  try {
    let run: IssueRun;
    try {
      run = needsAcme(s.env, s.hosts)
        ? await issueDue(s, { force: false, staging: false })
        : { outcomes: [], hostResults: [] };
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      ui.error(`error: ${err.message}`);
      if (err.hint) ui.error(`hint: ${err.hint}`);
      return Math.max(await fail([err.message]), err.exitCode);
    }
    let hostResults = run.hostResults;
    const controller = certsConfig!.issue_on === "controller";
    const syncHosts = hostsToInstall(s.env, s.hosts, run.hostResults.map((r) => r.host));
    if (syncHosts.length > 0) {
      const lock = controller && planDomains(s.env).length > 0
        ? await acquireLocalLock(storeOf(s).lockFile, { waitSeconds: 900 })
        : undefined;
      try {
        const certs = controller ? await incoming(s, () => undefined) : new Map();
        hostResults = [
          ...hostResults,
          ...await runOnHosts({
            ui: quiet,
            project: s.project,
            env: s.env,
            hosts: syncHosts,
            parallel: s.parallel,
            dryRun: false,
            signal: s.signal,
            executor: (h, i) => s.executor(h, i),
            plan: syncPlan,
            notes: syncNotes(s, certs),
            appEnv: (h) => s.appEnv.get(h.name)!,
            deployFiles: s.deployFiles,
          }),
        ];
      } finally {
        lock?.release();
      }
    }
    const messages = reportFailures(ui, run.outcomes, hostResults);
    const renewed = run.outcomes.filter((o) => o.action === "issued" || o.action === "renewed");
    const installed = changesOf(hostResults);
    if (renewed.length || installed.length) {
      const parts = renewed.map((o) => `${o.name} (${describeCert(o.info)})`);
      ui.result(
        `renew-certs ${s.env.name}: ${
          parts.length ? `renewed ${parts.join(", ")}` : "nothing due"
        }` +
          (installed.length ? `; installed on ${installed.join(", ")}` : ""),
      );
    }
    return messages.length ? await fail(messages) : 0;
  } finally {
    await s.close();
  }
}
