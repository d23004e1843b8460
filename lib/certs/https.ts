/**
 * HTTPS on a host: each certificate of the host in /etc/djaploy/certs/<name>/
 * (fullchain.pem 0644, privkey.pem 0600 root), the HTTPS site (same
 * locations as the HTTP site) and the HTTP-to-HTTPS redirect, then `nginx -t`
 * and reload; when the test fails, every file is put back as it was. The
 * certs module runs this step; `djaploy sync-certs` and `renew-certs` run it
 * alone, which is why it lives here and not in modules/certs/.
 */
import { type ModuleDefinition, note, type Step, type StepContext } from "../engine/module_api.ts";
import type { FactProbe } from "../host/facts.ts";
import type { HostConfig } from "../config/types.ts";
import { sha256Hex } from "../hash.ts";
import { shScript } from "../exec/remote_command.ts";
import type { Secret } from "../secrets/secret.ts";
import { UserError } from "../errors.ts";
import {
  ACME_ROOT,
  certPaths,
  CERTS_DIR,
  type DomainPlan,
  domainsForHost,
  hasTailnetCertificate,
  LETSENCRYPT_LIVE,
  SERVER_CA_BUNDLE,
  tlsPaths,
} from "./plan.ts";
import { nginxHttpsRedirect, nginxTlsSite } from "../../templates/nginx_tls.ts";
import {
  APPLY_SH,
  APPLY_TEST_FAILED,
  DEPLOY_HOOK_PATH,
  PREGENERATE_SH,
  STAGE_COPY_SH,
  STAGE_LINK_SH,
  STAGE_SH,
  WAIT_SERVED_SH,
} from "../../templates/cert_scripts.ts";
import { fetchTailnetCertificate, statusProbe, tailnetCertFiles } from "./tailnet.ts";

/** Provided by sync-certs (issue_on = "controller"): certificates to install, by name. */
export const INCOMING_CERTS = note<ReadonlyMap<string, IncomingCert>>("certs incoming");
/** Provided by sync-certs and update-certs: install from the server's own certbot lineages (issue_on = "server"). */
export const FROM_LINEAGE = note<boolean>("certs from lineage");
/** Days a pregenerated self-signed certificate is valid. */
export const SELF_SIGNED_DAYS = 90;

export interface IncomingCert {
  readonly fullchain: string;
  readonly privkey: Secret;
}

/** What the certs probe finds on a host. */
export interface CertsState {
  /** fullchain.pem text by certificate name, for what is installed. */
  readonly certs: ReadonlyMap<string, string>;
  /** sha256 by path: the installed certificate files, the site and the snippet. */
  readonly hashes: ReadonlyMap<string, string>;
  /** Where the enabled HTTPS site links to. */
  readonly link?: string;
  /** Whether certbot is installed. */
  readonly certbot: boolean;
}

const MARK = "@@djaploy-certs";

/** Reads the installed certificates, the HTTPS files' hashes and the site link. */
export function certsProbe(host: HostConfig): FactProbe<CertsState> {
  const tls = tlsPaths(host);
  return {
    name: "certs",
    argv: shScript(
      `if cd "$1" 2>/dev/null; then
  for d in */; do [ -d "$d" ] || continue; printf '${MARK} cert %s\\n' "\${d%/}"; cat "\${d}fullchain.pem" 2>/dev/null; done
  printf '${MARK} hashes\\n'
  sha256sum -- */fullchain.pem */privkey.pem 2>/dev/null | sed "s|  |  $1/|"
else printf '${MARK} hashes\\n'; fi
sha256sum -- "$2" "$3" 2>/dev/null
printf '${MARK} link %s\\n' "$(readlink "$4")"
command -v certbot >/dev/null && printf '${MARK} certbot\\n'
true`,
      CERTS_DIR,
      tls.site,
      tls.redirect,
      tls.enabled,
    ),
    parse: parseCertsState,
  };
}

export function parseCertsState(out: string): CertsState {
  const certs = new Map<string, string>();
  const hashes = new Map<string, string>();
  let link: string | undefined;
  let certbot = false;
  let current: string | undefined;
  let inHashes = false;
  for (const line of out.split("\n")) {
    if (line.startsWith(`${MARK} `)) {
      const rest = line.slice(MARK.length + 1);
      inHashes = rest === "hashes";
      current = rest.startsWith("cert ") ? rest.slice(5) : undefined;
      if (current !== undefined) certs.set(current, "");
      if (rest.startsWith("link ")) link = rest.slice(5) || undefined;
      if (rest === "certbot") certbot = true;
      continue;
    }
    const hash = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (hash && (inHashes || current === undefined)) {
      hashes.set(hash[2], hash[1]);
      continue;
    }
    if (current !== undefined) certs.set(current, certs.get(current)! + line + "\n");
  }
  for (const [name, pem] of certs) if (!pem.includes("BEGIN CERTIFICATE")) certs.delete(name);
  return { certs, hashes, link, certbot };
}

/** What the HTTPS step reads: the installed certificates, and the node's tailnet name. */
export function httpsProbes(host: HostConfig): FactProbe<unknown>[] {
  return [certsProbe(host), ...(hasTailnetCertificate(host) ? [statusProbe] : [])];
}

function requireNginxFirst(ctx: StepContext): void {
  const specs = ctx.host.modules.map((m) => m.spec);
  const nginx = specs.indexOf("nginx");
  if (nginx === -1 || nginx > specs.indexOf("certs")) {
    throw new UserError(
      `List "nginx" before "certs" in modules for ${ctx.host.name}: the HTTPS site uses the app's nginx upstream`,
    );
  }
}

async function stage(ctx: StepContext, path: string, content: string | Secret, mode: string) {
  await ctx.exec.run({ argv: shScript(STAGE_SH, path, mode), as: "root", stdin: content });
}

/** Stages a copy of a certificate the server has (certbot's lineage, tailscale cert's files). */
async function stageCopy(
  ctx: StepContext,
  files: { cert: string; key: string },
  name: string,
): Promise<"staged" | "present" | undefined> {
  const r = await ctx.exec.run({
    argv: shScript(STAGE_COPY_SH, files.cert, files.key, certPaths(name).dir),
    as: "root",
  });
  return r.stdout.includes("staged")
    ? "staged"
    : r.stdout.includes("present")
    ? "present"
    : undefined;
}

/** A certificate the HTTPS site serves: its folder in CERTS_DIR, its names, HSTS. */
interface Served {
  readonly name: string;
  readonly names: readonly string[];
  readonly hsts: boolean;
}

/** Stages what the certificate of one domain needs; returns the staged paths. */
async function stageCertificate(
  ctx: StepContext,
  p: DomainPlan,
  state: CertsState,
): Promise<{ staged: string[]; present: boolean }> {
  const name = p.domain.name;
  const paths = certPaths(name);
  const both = [paths.fullchain, paths.privkey];
  const incoming = ctx.shared.get(INCOMING_CERTS)?.get(name);
  if (incoming) {
    const same = state.hashes.get(paths.fullchain) === await sha256Hex(incoming.fullchain) &&
      state.hashes.get(paths.privkey) === await sha256Hex(incoming.privkey.reveal());
    if (same) return { staged: [], present: true };
    await stage(ctx, paths.fullchain, incoming.fullchain, "0644");
    await stage(ctx, paths.privkey, incoming.privkey, "0600");
    ctx.changed(`certificate ${name}`);
    return { staged: both, present: true };
  }
  if (ctx.shared.get(FROM_LINEAGE)) {
    const lineage = `${LETSENCRYPT_LIVE}/${name}`;
    const r = await stageCopy(
      ctx,
      { cert: `${lineage}/fullchain.pem`, key: `${lineage}/privkey.pem` },
      name,
    );
    if (r === "staged") {
      ctx.changed(`certificate ${name}`);
      return { staged: both, present: true };
    }
    if (r === "present") return { staged: [], present: true };
  }
  if (state.certs.has(name)) return { staged: [], present: true };
  if (ctx.env.certificates?.pregenerate_certificates) {
    await ctx.exec.run({
      argv: shScript(
        PREGENERATE_SH,
        paths.dir,
        name,
        p.names.map((n) => `DNS:${n}`).join(","),
        String(SELF_SIGNED_DAYS),
      ),
      as: "root",
    });
    ctx.changed(`self-signed certificate ${name}`);
    return { staged: both, present: true };
  }
  return { staged: [], present: false };
}

/**
 * [tailscale] cert = true: the node's certificate from `tailscale cert`, for
 * its tailnet name. A deploy only puts a missing one in place; configure,
 * sync-certs and renew-certs run `tailscale cert` (which renews it when due)
 * and install it when it changed.
 */
async function stageTailnetCertificate(
  ctx: StepContext,
  plans: readonly DomainPlan[],
  state: CertsState,
): Promise<{ staged: string[]; served?: Served }> {
  const known = ctx.facts.get(statusProbe).dnsName;
  const installed = ctx.release !== undefined && known !== undefined && state.certs.has(known);
  const name = installed ? known : await fetchTailnetCertificate(ctx);
  const clash = plans.find((p) => p.names.includes(name));
  if (clash) {
    throw new UserError(
      `${clash.where} names ${name}, the tailnet name of ${ctx.host.name}, whose certificate ` +
        "comes from tailscale cert ([tailscale] cert = true): one certificate per name",
      { hint: "Remove the name from [[certificates.domains]], or set [tailscale] cert = false." },
    );
  }
  const served: Served = { name, names: [name], hsts: false };
  if (installed) return { staged: [], served };
  const r = await stageCopy(ctx, tailnetCertFiles(name), name);
  if (r === "staged") {
    ctx.changed(`certificate ${name} (tailscale)`);
    const paths = certPaths(name);
    return { staged: [paths.fullchain, paths.privkey], served };
  }
  return r === "present" || state.certs.has(name) ? { staged: [], served } : { staged: [] };
}

/** Stages the certificates, the HTTPS site and the redirect; swaps them in; nginx -t; reload. */
export const httpsStep: Step = {
  name: "https",
  async run(ctx) {
    const plans = domainsForHost(ctx.env, ctx.host);
    const tailnet = hasTailnetCertificate(ctx.host);
    if (plans.length === 0 && !tailnet) return;
    requireNginxFirst(ctx);
    const state = ctx.facts.get(certsProbe(ctx.host));
    const staged: string[] = [];
    const present: Served[] = [];
    for (const p of plans) {
      const r = await stageCertificate(ctx, p, state);
      staged.push(...r.staged);
      if (r.present) present.push({ name: p.domain.name, names: p.names, hsts: p.domain.hsts });
    }
    if (tailnet) {
      const r = await stageTailnetCertificate(ctx, plans, state);
      staged.push(...r.staged);
      if (r.served) present.push(r.served);
    }
    if (present.length === 0) {
      ctx.log.info("no certificate on this host yet: run djaploy update-certs");
      return;
    }
    const tls = tlsPaths(ctx.host);
    const site = nginxTlsSite({
      appName: ctx.host.app_name,
      clientMaxBodySize: ctx.host.nginx.client_max_body_size,
      staticRoot: ctx.layout.liveStatic,
      mediaRoot: ctx.layout.mediaRoot,
      acmeRoot: ACME_ROOT,
      snippetsDir: ctx.layout.nginxSnippetsDir,
      servers: present.map((p) => ({
        names: p.names,
        certPath: certPaths(p.name).fullchain,
        keyPath: certPaths(p.name).privkey,
        hsts: p.hsts,
      })),
    });
    const redirect = nginxHttpsRedirect(present.flatMap((p) => p.names));
    for (const [path, text] of [[tls.site, site], [tls.redirect, redirect]]) {
      if (state.hashes.get(path) === await sha256Hex(text)) continue;
      await stage(ctx, path, text, "0644");
      staged.push(path);
      ctx.changed(`wrote ${path}`);
    }
    if (state.link !== tls.site) {
      await ctx.exec.run({ argv: shScript(STAGE_LINK_SH, tls.enabled, tls.site), as: "root" });
      staged.push(tls.enabled);
      ctx.changed("enabled the HTTPS site");
    }
    if (staged.length === 0) return;
    const r = await ctx.exec.run({
      argv: shScript(APPLY_SH, ...staged),
      as: "root",
      okCodes: [0, APPLY_TEST_FAILED],
    });
    if (r.code === APPLY_TEST_FAILED) {
      throw new UserError(
        `Fix the HTTPS configuration on ${ctx.host.name}: nginx -t failed with the new files, ` +
          "so the previous ones are back in place and nginx keeps serving them",
        { hint: r.stderr.trim().split("\n").slice(-3).join("\n") },
      );
    }
    // A reload only signals nginx: done means the new certificates are what it serves.
    const changedCerts = present.filter((p) => staged.includes(certPaths(p.name).fullchain));
    if (changedCerts.length && !ctx.dryRun) {
      const waited = await ctx.exec.run({
        argv: shScript(
          WAIT_SERVED_SH,
          ...changedCerts.flatMap((p) => [p.name, certPaths(p.name).fullchain]),
        ),
        as: "root",
      });
      for (const name of waited.stdout.split("\n").filter(Boolean)) {
        ctx.log.warn(`nginx does not serve the new certificate for ${name} after 10 s`);
      }
    }
  },
};

/** What the certs module declares besides its steps; sync-certs plans a host with the same. */
export const httpsModuleParts: Omit<ModuleDefinition, "name" | "steps"> = {
  description: "HTTPS for the app's domains: certificates, the HTTPS site, HTTP to HTTPS",
  packages: () => ["openssl"],
  facts: (host) => httpsProbes(host),
  files: (host) => [DEPLOY_HOOK_PATH, SERVER_CA_BUNDLE, tlsPaths(host).site],
};
