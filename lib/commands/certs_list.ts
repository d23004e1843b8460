/** `certs`: the certificates in the local store and on each host, with expiry dates. */
import type { CommandDef, Parsed } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import { table, type Ui } from "../output/ui.ts";
import { COMMON_FLAGS, ENV_FLAG, withEnv } from "./common.ts";
import { runOnHosts } from "../engine/runner.ts";
import { certsProbe } from "../certs/https.ts";
import { hasTailnetCertificate, planDomains } from "../certs/plan.ts";
import { storeOf } from "../certs/issue.ts";
import { readStored } from "../certs/store.ts";
import { statusProbe } from "../certs/tailnet.ts";
import { type CertInfo, daysLeft, parseCertificate } from "../certs/x509.ts";

export const certsCommand: CommandDef = {
  name: "certs",
  summary: "List the certificates in the local store and on each host, with expiry dates.",
  flags: [
    ENV_FLAG,
    { name: "json", type: "boolean", description: "Print JSON" },
    ...COMMON_FLAGS,
  ],
};

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
