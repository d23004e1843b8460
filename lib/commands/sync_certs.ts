/** `sync-certs`: installs the certificates on the servers and switches nginx to HTTPS. */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { EnvironmentConfig, HostConfig } from "../config/types.ts";
import { openSession, type Session } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import {
  commandHooks,
  COMMON_FLAGS,
  HOST_FLAGS,
  modulePlanParts,
  runExitCode,
  runPlan,
} from "./common.ts";
import {
  FROM_LINEAGE,
  httpsModuleParts,
  httpsStep,
  INCOMING_CERTS,
  type IncomingCert,
} from "../certs/https.ts";
import { type NoteValue, noteValue } from "../engine/module_api.ts";
import { checkIssuable, hasTailnetCertificate, planDomains } from "../certs/plan.ts";
import { storeOf } from "../certs/issue.ts";
import { readStored } from "../certs/store.ts";

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

/** The stored certificates for the domains of the environment (controller mode). */
export async function incoming(
  s: Session,
  warn: (m: string) => void,
): Promise<Map<string, IncomingCert>> {
  const store = storeOf(s);
  const out = new Map<string, IncomingCert>();
  for (const p of planDomains(s.env)) {
    const stored = await readStored(store, p.domain.name);
    if (stored) out.set(p.domain.name, { fullchain: stored.fullchain, privkey: stored.privkey });
    else warn(`${p.domain.name}: no certificate in ${store.dir} yet: run djaploy update-certs`);
  }
  return out;
}

export function syncNotes(s: Session, certs: Map<string, IncomingCert>): NoteValue[] {
  return s.env.certificates!.issue_on === "controller"
    ? [noteValue(INCOMING_CERTS, certs)]
    : [noteValue(FROM_LINEAGE, true)];
}

export function syncPlan(host: Parameters<typeof modulePlanParts>[1]) {
  return { ...modulePlanParts([{ name: "certs", ...httpsModuleParts }], host), steps: [httpsStep] };
}

/**
 * Whether the environment has ACME certificates to issue: `[[certificates.domains]]`, or
 * nothing at all (so checkIssuable says what is missing). Certificates from tailscale alone
 * ([tailscale] cert = true) need no ACME.
 */
export function needsAcme(env: EnvironmentConfig, hosts: readonly HostConfig[]): boolean {
  return planDomains(env).length > 0 || !hosts.some(hasTailnetCertificate);
}

export async function syncCerts(ui: Ui, args: Parsed): Promise<number> {
  const s = await openSession(ui, args.flags, "sync-certs");
  try {
    if (needsAcme(s.env, s.hosts)) checkIssuable(s.env);
    const certs = s.env.certificates!.issue_on === "controller"
      ? await incoming(s, (m) => ui.warn(m))
      : new Map();
    const hooks = commandHooks(s, "sync_certs");
    const results = await runPlan(s, {
      title: `sync-certs ${s.env.name}${s.dryRun ? " (dry run)" : ""}`,
      plan: (host) => Promise.resolve(syncPlan(host)),
      notes: syncNotes(s, certs),
      hooks,
    });
    return runExitCode(results, hooks);
  } finally {
    await s.close();
  }
}
