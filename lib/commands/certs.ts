/**
 * Certificates: `update-certs` issues or renews what is due, `sync-certs`
 * installs them on the servers and switches nginx to HTTPS, `renew-certs`
 * does both for cron (silent unless something changed or failed), `certs`
 * lists what exists where and when it expires.
 */
import type { CommandDef, Flags, Parsed } from "../cli_args.ts";
import type { EnvironmentConfig, HostConfig } from "../config/types.ts";
import { loadConfig, openSession, type Session } from "../session.ts";
import { table, type Ui } from "../ui.ts";
import { COMMON_FLAGS, ENV_FLAG, HOST_FLAGS, modulePlanParts, runPlan } from "./common.ts";
import { UsageError, UserError } from "../errors.ts";
import { type HostResult, runOnHosts } from "../runner.ts";
import certsModule, {
  certsProbe,
  FROM_LINEAGE,
  httpsStep,
  INCOMING_CERTS,
  type IncomingCert,
} from "../../modules/certs/mod.ts";
import {
  certificateHosts,
  checkIssuable,
  hasTailnetCertificate,
  planDomains,
} from "../certs/plan.ts";
import { issueDue, type IssueOutcome, type IssueRun, storeOf } from "../certs/issue.ts";
import { readStored } from "../certs/store.ts";
import { statusProbe } from "../../modules/tailscale/mod.ts";
import { acquireLocalLock } from "../certs/lock.ts";
import { type CertInfo, daysLeft, isoDay, parseCertificate } from "../certs/x509.ts";
import { notifyFailure, notifyWebhook } from "../certs/notify.ts";

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

export const syncCertsCommand: CommandDef = {
  name: "sync-certs",
  aliases: ["sync_certs"],
  summary: "Put the certificates on the servers, switch nginx to HTTPS, test and reload.",
  flags: [
    ...HOST_FLAGS,
    { name: "dry-run", type: "boolean", description: "Show the commands, change nothing" },
    ...COMMON_FLAGS,
  ],
};

export const renewCertsCommand: CommandDef = {
  name: "renew-certs",
  aliases: ["renew_certs"],
  summary:
    "Update and sync the certificates in one run, for cron (silent unless something changed, exit 1 on failure).",
  flags: [...HOST_FLAGS, ...COMMON_FLAGS],
};

export const certsCommand: CommandDef = {
  name: "certs",
  summary: "List the certificates in the local store and on each host, with expiry dates.",
  flags: [
    ENV_FLAG,
    { name: "json", type: "boolean", description: "Print JSON" },
    ...COMMON_FLAGS,
  ],
};

/** --env, or the only environment there is. */
async function withEnv(flags: Flags, command: string): Promise<Flags> {
  if (flags.env) return flags;
  const project = await loadConfig(flags);
  if (project.environments.length === 1) return { ...flags, env: project.environments[0] };
  throw new UsageError(
    `djaploy ${command} needs --env NAME: which environment to act on (${
      project.environments.join(", ") || "none in infra/inventory/"
    })`,
  );
}

function describeCert(info: CertInfo | undefined): string {
  if (!info) return "none";
  return `valid until ${isoDay(info.notAfter)} (${daysLeft(info)} days), serial ${info.serial}${
    info.selfSigned ? ", self-signed" : ""
  }`;
}

function outcomeLine(o: IssueOutcome): string {
  const where = o.where === "controller" ? "" : ` on ${o.where}`;
  if (o.action === "current") return `${o.name}${where}: current, ${describeCert(o.info)}`;
  if (o.action === "failed") return `${o.name}${where}: FAILED (${o.reason ?? "error"})`;
  return `${o.name}${where}: ${o.action} (${o.reason}), ${describeCert(o.info)}`;
}

function reportFailures(ui: Ui, outcomes: readonly IssueOutcome[], hosts: readonly HostResult[]) {
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

/** The stored certificates for the domains of the environment (controller mode). */
async function incoming(s: Session, warn: (m: string) => void): Promise<Map<string, IncomingCert>> {
  const store = storeOf(s);
  const out = new Map<string, IncomingCert>();
  for (const p of planDomains(s.env)) {
    const stored = await readStored(store, p.domain.name);
    if (stored) out.set(p.domain.name, { fullchain: stored.fullchain, privkey: stored.privkey });
    else warn(`${p.domain.name}: no certificate in ${store.dir} yet: run djaploy update-certs`);
  }
  return out;
}

function syncNotes(s: Session, certs: Map<string, IncomingCert>): Record<string, unknown> {
  return s.env.certificates!.issue_on === "controller"
    ? { [INCOMING_CERTS]: certs }
    : { [FROM_LINEAGE]: true };
}

function syncPlan(host: Parameters<typeof modulePlanParts>[1]) {
  return { ...modulePlanParts([certsModule], host), steps: [httpsStep] };
}

/**
 * Whether the environment has ACME certificates to issue: `[[certificates.domains]]`, or
 * nothing at all (so checkIssuable says what is missing). Certificates from tailscale alone
 * ([tailscale] cert = true) need no ACME.
 */
export function needsAcme(env: EnvironmentConfig, hosts: readonly HostConfig[]): boolean {
  return planDomains(env).length > 0 || !hosts.some(hasTailnetCertificate);
}

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

export async function syncCerts(ui: Ui, args: Parsed): Promise<number> {
  const s = await openSession(ui, args.flags, "sync-certs");
  try {
    if (needsAcme(s.env, s.hosts)) checkIssuable(s.env);
    const certs = s.env.certificates!.issue_on === "controller"
      ? await incoming(s, (m) => ui.warn(m))
      : new Map();
    const results = await runPlan(s, {
      title: `sync-certs ${s.env.name}${s.dryRun ? " (dry run)" : ""}`,
      plan: (host) => Promise.resolve(syncPlan(host)),
      notes: syncNotes(s, certs),
    });
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await s.close();
  }
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

interface HostCert {
  readonly host: string;
  readonly serial?: string;
  readonly not_after?: string;
  readonly days_left?: number;
  readonly self_signed?: boolean;
}

function certJson(info: CertInfo | undefined) {
  return info
    ? {
      serial: info.serial,
      not_after: info.notAfter.toISOString(),
      days_left: daysLeft(info),
      issuer: info.issuer,
      self_signed: info.selfSigned,
      names: info.names,
    }
    : null;
}

function hostCert(host: string, info: CertInfo | undefined): HostCert {
  return info
    ? {
      host,
      serial: info.serial,
      not_after: info.notAfter.toISOString(),
      days_left: daysLeft(info),
      self_signed: info.selfSigned,
    }
    : { host };
}

export async function certsList(ui: Ui, args: Parsed): Promise<number> {
  const flags = await withEnv(args.flags, "certs");
  const quiet = flags.verbose ? ui : ui.withVerbosity("quiet");
  const s = await openSession(quiet, flags, "certs");
  try {
    const plans = planDomains(s.env);
    const onHosts = new Map<string, Map<string, CertInfo | undefined>>();
    // Hosts with a certificate from `tailscale cert`, and their tailnet names once read.
    const tailnet = s.hosts.filter(hasTailnetCertificate);
    const tailnetNames = new Map<string, string | undefined>();
    const results = await runOnHosts({
      ui: quiet,
      project: s.project,
      env: s.env,
      hosts: s.hosts.filter((h) => plans.some((p) => p.hosts.includes(h)) || tailnet.includes(h)),
      parallel: s.parallel,
      dryRun: false,
      signal: s.signal,
      executor: (h, i) => s.executor(h, i),
      plan: (host) => ({
        probes: [certsProbe(host), ...(tailnet.includes(host) ? [statusProbe] : [])],
        files: [],
        packages: [],
        steps: [{
          name: "read certificates",
          run(ctx) {
            const state = ctx.facts.get(certsProbe(host));
            onHosts.set(
              host.name,
              new Map([...state.certs].map(([n, pem]) => [n, parseCertificate(pem)])),
            );
            if (tailnet.includes(host)) {
              tailnetNames.set(host.name, ctx.facts.get(statusProbe).dnsName);
            }
            return Promise.resolve();
          },
        }],
      }),
      appEnv: (h) => s.appEnv.get(h.name)!,
      deployFiles: s.deployFiles,
    });
    const controller = s.env.certificates?.issue_on === "controller";
    const store = controller ? storeOf(s) : undefined;
    const rows = [];
    for (const p of plans) {
      const stored = store ? await readStored(store, p.domain.name) : undefined;
      const hosts = p.hosts.map((h) => hostCert(h.name, onHosts.get(h.name)?.get(p.domain.name)));
      rows.push({
        name: p.domain.name,
        names: p.names,
        challenge: p.domain.challenge,
        issue_on: s.env.certificates!.issue_on as string,
        store: store ? certJson(stored?.info) : undefined,
        store_path: store?.dir,
        hosts,
      });
    }
    for (const host of tailnet) {
      const name = tailnetNames.get(host.name);
      if (!name) continue; // not joined, or not read: its error is below
      rows.push({
        name,
        names: [name],
        challenge: "tailscale",
        issue_on: "tailscale",
        store: undefined,
        store_path: undefined,
        hosts: [hostCert(host.name, onHosts.get(host.name)?.get(name))],
      });
    }
    for (const r of results) {
      if (!r.ok) ui.error(`${r.host}: ${r.error instanceof Error ? r.error.message : r.error}`);
    }
    if (flags.json) {
      ui.result(JSON.stringify(rows, null, 2));
    } else {
      for (const r of rows) {
        ui.result(ui.bold(
          `${r.names.join(", ")}  (${
            r.challenge === "tailscale"
              ? "tailscale cert"
              : `${r.challenge}-01, issued on ${r.issue_on}`
          })`,
        ));
        const lines: string[][] = [];
        if (r.store_path) {
          lines.push([
            "store",
            r.store
              ? `until ${r.store.not_after.slice(0, 10)} (${r.store.days_left} days)`
              : "none",
            r.store ? `serial ${r.store.serial}` : `run djaploy update-certs`,
          ]);
        }
        for (const h of r.hosts) {
          lines.push([
            h.host,
            h.not_after ? `until ${h.not_after.slice(0, 10)} (${h.days_left} days)` : "none",
            h.serial ? `serial ${h.serial}${h.self_signed ? " (self-signed)" : ""}` : "",
          ]);
        }
        for (const l of table(lines)) ui.result(`  ${l}`);
      }
    }
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await s.close();
  }
}
