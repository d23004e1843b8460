/**
 * Issuing and renewing: decide what is due, run certbot where it runs
 * (this machine or the server), answer its challenges, and report per
 * certificate. Never prints key material: only names, dates and serials.
 */
import type { Session } from "../engine/session.ts";
import type { HostConfig } from "../config/types.ts";
import type { Executor } from "../exec/executor.ts";
import { runProcess } from "../exec/process.ts";
import { ProgramNotFoundError } from "../exec/process.ts";
import { isSecretRef, Secret } from "../secrets/secret.ts";
import { UserError } from "../errors.ts";
import { shScript } from "../exec/remote_command.ts";
import { type CertInfo, parseCertificate, renewalReason } from "./x509.ts";
import { type CertStore, certStore, ensureStore, readStored, storeDir } from "./store.ts";
import { acquireLocalLock } from "./issue_lock.ts";
import { type HookRequest, withHookServer } from "./certbot_hooks.ts";
import {
  certbotProblem,
  controllerCertbotArgs,
  LETSENCRYPT_STAGING,
  serverCertbotArgs,
} from "./certbot.ts";
import {
  ACME_ROOT,
  checkIssuable,
  type DomainPlan,
  planDomains,
  SERVER_CA_BUNDLE,
} from "./plan.ts";
import type { DnsProvider, TxtRecord } from "./dns/provider.ts";
import { dnsProvider } from "./dns/registry.ts";
import { DEPLOY_HOOK_PATH } from "../../templates/cert_scripts.ts";
import { runOnHosts } from "../engine/runner.ts";
import { noteValue } from "../engine/module_api.ts";
import { certsProbe, FROM_LINEAGE, httpsProbes, httpsStep } from "./https.ts";
import type { HostResult } from "../engine/runner.ts";
import type { FactProbe } from "../host/facts.ts";

export interface IssueOutcome {
  readonly name: string;
  /** Where certbot ran: "controller" or a host name. */
  readonly where: string;
  readonly action: "issued" | "renewed" | "current" | "failed";
  readonly reason?: string;
  readonly info?: CertInfo;
  readonly error?: unknown;
}

export interface IssueOptions {
  readonly force: boolean;
  readonly staging: boolean;
  /** Told when this run waits for another one's lock. */
  readonly onWait?: () => void;
}

const ACME_CHALLENGE_DIR = `${ACME_ROOT}/.well-known/acme-challenge`;
const TOKEN = /^[A-Za-z0-9_-]+$/;

export interface IssueRun {
  readonly outcomes: readonly IssueOutcome[];
  /** issue_on = "server": each host's run (certbot, then the HTTPS step). */
  readonly hostResults: readonly HostResult[];
}

/** Issues or renews what is due, where issue_on says. */
export async function issueDue(s: Session, opts: IssueOptions): Promise<IssueRun> {
  const certs = checkIssuable(s.env);
  return certs.issue_on === "controller"
    ? { outcomes: await issueOnController(s, opts), hostResults: [] }
    : await issueOnServers(s, opts);
}

export function storeOf(s: Session): CertStore {
  return certStore(storeDir(s.env.certificates!, s.project));
}

async function issueOnController(s: Session, opts: IssueOptions): Promise<IssueOutcome[]> {
  const certs = s.env.certificates!;
  const store = storeOf(s);
  await ensureStore(store);
  const lock = await acquireLocalLock(store.lockFile, { waitSeconds: 900, onWait: opts.onWait });
  try {
    const server = opts.staging ? LETSENCRYPT_STAGING : certs.acme_directory;
    const outcomes: IssueOutcome[] = [];
    for (const plan of planDomains(s.env)) {
      const stored = await readStored(store, plan.domain.name);
      const reason = opts.force
        ? "--force"
        : stored?.server && stored.server !== server
        ? `issued by ${stored.server}`
        : renewalReason(stored?.info, plan.names, certs.renew_before_days);
      if (!reason) {
        outcomes.push({
          name: plan.domain.name,
          where: "controller",
          action: "current",
          info: stored!.info,
        });
        continue;
      }
      try {
        const info = await issueOne(s, plan, { store, server });
        outcomes.push({
          name: plan.domain.name,
          where: "controller",
          action: stored ? "renewed" : "issued",
          reason,
          info,
        });
      } catch (error) {
        outcomes.push({
          name: plan.domain.name,
          where: "controller",
          action: "failed",
          reason,
          error,
        });
      }
    }
    return outcomes;
  } finally {
    lock.release();
  }
}

async function issueOne(
  s: Session,
  plan: DomainPlan,
  opts: { store: CertStore; server: string },
): Promise<CertInfo> {
  const certs = s.env.certificates!;
  const handler = plan.domain.challenge === "dns"
    ? await dnsHandler(s, plan)
    : httpHandler(s, plan);
  try {
    const result = await withHookServer(opts.store.dir, handler.handle, async (hooks) => {
      const args = controllerCertbotArgs(
        { name: plan.domain.name, names: plan.names, email: certs.email!, server: opts.server },
        {
          store: opts.store,
          challenge: plan.domain.challenge,
          authHook: hooks.authHook,
          cleanupHook: hooks.cleanupHook,
        },
      );
      const env: Record<string, string> = {};
      if (certs.acme_ca_bundle) env.REQUESTS_CA_BUNDLE = certs.acme_ca_bundle;
      let r;
      try {
        r = await runProcess("certbot", args, { env, signal: s.signal });
      } catch (err) {
        if (err instanceof ProgramNotFoundError) {
          throw new UserError(
            "Install certbot on this machine: the certbot program is not on PATH",
            {
              hint:
                'Debian/Ubuntu: apt-get install certbot. Or set [certificates] issue_on = "server".',
            },
          );
        }
        throw err;
      }
      return { ...r, hookError: hooks.error() };
    });
    if (result.code !== 0) {
      const why = result.hookError instanceof Error
        ? result.hookError.message.split("\n")[0]
        : certbotProblem(`${result.stderr}\n${result.stdout}`);
      throw new UserError(`Issue the certificate for ${plan.domain.name}: ${why}`, {
        hint: `certbot's log: ${opts.store.logsDir}/letsencrypt.log`,
      });
    }
  } finally {
    await handler.close();
  }
  const stored = await readStored(opts.store, plan.domain.name);
  if (!stored) {
    throw new UserError(`certbot reported success but ${plan.domain.name} is not in the store`);
  }
  return stored.info;
}

interface ChallengeHandler {
  handle(req: HookRequest): Promise<void>;
  close(): Promise<void>;
}

/** HTTP-01: the key authorization goes to the ACME webroot of every host of the name. */
function httpHandler(s: Session, plan: DomainPlan): ChallengeHandler {
  const executors = new Map<string, Executor>();
  const exec = (host: HostConfig, i: number) => {
    let e = executors.get(host.name);
    if (!e) {
      // Socket names apart from the runner's (0..n): both may be open in one run.
      e = s.executor(host, 1000 + i);
      executors.set(host.name, e);
    }
    return e;
  };
  return {
    async handle(req) {
      if (!TOKEN.test(req.token)) {
        throw new UserError(`Unexpected ACME token from certbot: ${req.token}`);
      }
      const path = `${ACME_CHALLENGE_DIR}/${req.token}`;
      await Promise.all(plan.hosts.map(async (host, i) => {
        const e = exec(host, i);
        if (req.phase === "auth") {
          await e.run({
            argv: shScript('umask 022; mkdir -p "$(dirname "$1")"; cat > "$1"', path),
            as: "root",
            stdin: req.validation,
          });
        } else {
          await e.run({ argv: ["rm", "-f", "--", path], as: "root" });
        }
      }));
    },
    async close() {
      await Promise.all([...executors.values()].map((e) => e.close()));
    },
  };
}

/** DNS-01: the TXT record through the domain's DNS provider. */
async function dnsHandler(s: Session, plan: DomainPlan): Promise<ChallengeHandler> {
  const credentials = new Map<string, Secret>();
  for (const [key, value] of Object.entries(plan.domain.credentials)) {
    credentials.set(
      key,
      isSecretRef(value)
        ? await s.secrets.resolve(value, `${plan.where}.credentials.${key}`)
        : new Secret(value),
    );
  }
  const provider: DnsProvider = dnsProvider(plan.domain.dns_provider!, {
    credentials,
    where: plan.where,
  });
  const records: TxtRecord[] = [];
  return {
    async handle(req) {
      const fqdn = `_acme-challenge.${req.domain.replace(/^\*\./, "")}`;
      if (req.phase === "auth") {
        records.push(await provider.present(fqdn, req.validation));
        if (req.remaining === 0 && provider.propagationSeconds > 0) {
          await new Promise((r) => setTimeout(r, provider.propagationSeconds * 1000));
        }
      } else {
        const i = records.findIndex((r) => r.fqdn === fqdn && r.value === req.validation);
        if (i !== -1) await provider.cleanup(records.splice(i, 1)[0]);
      }
    },
    async close() {
      // Records a failed run left behind.
      for (const r of records.splice(0)) await provider.cleanup(r).catch(() => undefined);
    },
  };
}

/** A server's certbot lineage certificate, by name. */
function lineageProbe(names: readonly string[]): FactProbe<Map<string, string>> {
  return {
    name: "certbot-lineages",
    argv: shScript(
      'for n; do printf "@@lineage %s\\n" "$n"; cat "/etc/letsencrypt/live/$n/cert.pem" 2>/dev/null; done; true',
      ...names,
    ),
    parse: (out) => {
      const map = new Map<string, string>();
      let current: string | undefined;
      for (const line of out.split("\n")) {
        if (line.startsWith("@@lineage ")) {
          current = line.slice(10);
          map.set(current, "");
        } else if (current) map.set(current, map.get(current)! + line + "\n");
      }
      return map;
    },
  };
}

/** issue_on = "server": certbot --webroot on each host, over SSH. */
async function issueOnServers(s: Session, opts: IssueOptions): Promise<IssueRun> {
  const certs = s.env.certificates!;
  const server = opts.staging ? LETSENCRYPT_STAGING : certs.acme_directory;
  const plans = planDomains(s.env);
  const outcomes: IssueOutcome[] = [];
  const results = await runOnHosts({
    ui: s.ui,
    project: s.project,
    env: s.env,
    hosts: s.hosts.filter((h) => plans.some((p) => p.hosts.some((x) => x.name === h.name))),
    parallel: s.parallel,
    dryRun: s.dryRun,
    signal: s.signal,
    executor: (h, i) => s.executor(h, i),
    plan: (host) => {
      const mine = plans.filter((p) => p.hosts.some((h) => h.name === host.name));
      return {
        probes: [lineageProbe(mine.map((p) => p.domain.name)), ...httpsProbes(host)],
        files: [],
        packages: [],
        steps: [{
          name: "certbot",
          async run(ctx) {
            if (!ctx.facts.get(certsProbe(host)).certbot) {
              throw new UserError(
                `Install certbot on ${host.name}: run djaploy configure (the certs module installs it)`,
              );
            }
            const lineages = ctx.facts.get(lineageProbe(mine.map((p) => p.domain.name)));
            for (const p of mine) {
              const info = parseCertificate(lineages.get(p.domain.name) ?? "");
              const reason = opts.force
                ? "--force"
                : renewalReason(info, p.names, certs.renew_before_days);
              if (!reason) {
                outcomes.push({ name: p.domain.name, where: host.name, action: "current", info });
                continue;
              }
              const argv = serverCertbotArgs(
                { name: p.domain.name, names: p.names, email: certs.email!, server },
                { webroot: ACME_ROOT, deployHook: DEPLOY_HOOK_PATH },
              );
              const r = await ctx.exec.run({
                argv,
                as: "root",
                env: certs.acme_ca_bundle ? { REQUESTS_CA_BUNDLE: SERVER_CA_BUNDLE } : undefined,
                okCodes: [0, 1],
              });
              if (r.code !== 0) {
                const error = new UserError(
                  `Issue the certificate for ${p.domain.name} on ${host.name}: ${
                    certbotProblem(`${r.stderr}\n${r.stdout}`)
                  }`,
                  { hint: `certbot's log on ${host.name}: /var/log/letsencrypt/letsencrypt.log` },
                );
                outcomes.push({
                  name: p.domain.name,
                  where: host.name,
                  action: "failed",
                  reason,
                  error,
                });
                continue;
              }
              // certbot renew (the cert_renewal timer) renews this many days ahead too.
              await ctx.exec.run({
                argv: shScript(
                  'sed -i "1i renew_before_expiry = $2 days\n/^#\\? *renew_before_expiry *=.*/d" "$1"',
                  `/etc/letsencrypt/renewal/${p.domain.name}.conf`,
                  String(certs.renew_before_days),
                ),
                as: "root",
              });
              const cert = await ctx.exec.run({
                argv: ["cat", `/etc/letsencrypt/live/${p.domain.name}/cert.pem`],
                as: "root",
              });
              ctx.changed(`issued ${p.domain.name}`);
              outcomes.push({
                name: p.domain.name,
                where: host.name,
                action: info ? "renewed" : "issued",
                reason,
                info: parseCertificate(cert.stdout),
              });
            }
          },
        }, httpsStep],
      };
    },
    notes: [noteValue(FROM_LINEAGE, true)],
    appEnv: (h) => s.appEnv.get(h.name)!,
    deployFiles: s.deployFiles,
  });
  return { outcomes, hostResults: results };
}
