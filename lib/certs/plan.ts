/**
 * Which certificate goes to which host, and where it lives there. A domain's
 * hosts are its `hosts`, or every host whose nginx serves one of its names.
 * A host with `[tailscale] cert = true` and the certs module also gets the
 * node's own certificate from `tailscale cert`, for its tailnet name.
 */
import * as remotePath from "../remote_path.ts";
import type {
  CertDomainConfig,
  CertificatesConfig,
  EnvironmentConfig,
  HostConfig,
} from "../config/types.ts";
import { ConfigError } from "../errors.ts";

/** The folder nginx serves `/.well-known/acme-challenge/` from (HTTP-01). */
export const ACME_ROOT = "/var/www/acme";
/** Where nginx reads certificates on every server: `<CERTS_DIR>/<name>/`. */
export const CERTS_DIR = "/etc/djaploy/certs";
/** The ACME server's CA bundle on servers (issue_on = "server" with acme_ca_bundle). */
export const SERVER_CA_BUNDLE = "/etc/djaploy/acme-ca.pem";
/** certbot's own lineages on servers (issue_on = "server"). */
export const LETSENCRYPT_LIVE = "/etc/letsencrypt/live";

/** A certificate of the environment and the hosts that get it. */
export interface DomainPlan {
  /** The `[[certificates.domains]]` entry. */
  readonly domain: CertDomainConfig;
  /** `certificates.domains[i]`, for messages. */
  readonly where: string;
  /** name, then alt_names. */
  readonly names: readonly string[];
  /** The hosts that install it. */
  readonly hosts: readonly HostConfig[];
}

export interface CertPaths {
  readonly dir: string;
  readonly fullchain: string;
  readonly privkey: string;
}

export function certPaths(name: string): CertPaths {
  const dir = remotePath.join(CERTS_DIR, name);
  return {
    dir,
    fullchain: remotePath.join(dir, "fullchain.pem"),
    privkey: remotePath.join(dir, "privkey.pem"),
  };
}

/** The HTTPS site and the redirect snippet of an app. */
export function tlsPaths(host: HostConfig): { site: string; enabled: string; redirect: string } {
  return {
    site: `/etc/nginx/sites-available/${host.app_name}-tls.conf`,
    enabled: `/etc/nginx/sites-enabled/${host.app_name}-tls.conf`,
    redirect: `/etc/nginx/djaploy.d/${host.app_name}/https-redirect.conf`,
  };
}

/** Whether the host's nginx serves one of the names (server_name "_" serves every name). */
export function serves(host: HostConfig, names: readonly string[]): boolean {
  if (!host.modules.some((m) => m.spec === "nginx")) return false;
  const served = host.nginx.server_name.split(/\s+/);
  return served.includes("_") || names.some((n) => served.includes(n));
}

/**
 * Whether the certs module installs the node's `tailscale cert` certificate
 * on the host (for its tailnet name, known only once it joined): the host
 * runs the tailscale and certs modules with `[tailscale] cert = true`.
 */
export function hasTailnetCertificate(host: HostConfig): boolean {
  const specs = host.modules.map((m) => m.spec);
  return host.tailscale.cert && specs.includes("tailscale") && specs.includes("certs");
}

/** The hosts that get a certificate: from `[[certificates.domains]]`, or from tailscale. */
export function certificateHosts(
  env: EnvironmentConfig,
  hosts: readonly HostConfig[],
): HostConfig[] {
  const plans = planDomains(env);
  return hosts.filter((h) =>
    hasTailnetCertificate(h) || plans.some((p) => p.hosts.some((x) => x.name === h.name))
  );
}

export function planDomains(env: EnvironmentConfig): DomainPlan[] {
  const certs = env.certificates;
  if (!certs) return [];
  return certs.domains.map((domain, i) => {
    const names = [domain.name, ...domain.alt_names];
    const hosts = domain.hosts
      ? env.hosts.filter((h) => domain.hosts!.includes(h.name))
      : env.hosts.filter((h) => serves(h, names));
    return { domain, where: `certificates.domains[${i}]`, names, hosts };
  });
}

/** The domains a host gets. */
export function domainsForHost(env: EnvironmentConfig, host: HostConfig): DomainPlan[] {
  return planDomains(env).filter((p) => p.hosts.some((h) => h.name === host.name));
}

/** Checks what issuing needs beyond the schema (the email, one server per name on a server). */
export function checkIssuable(env: EnvironmentConfig): CertificatesConfig {
  const certs = env.certificates;
  const file = env.inventory_path;
  if (!certs || certs.domains.length === 0) {
    throw new ConfigError(
      `Add a certificate to [certificates] in djaploy.toml or ${file}: there are no domains`,
      { hint: '[[certificates.domains]]\nname = "example.com"' },
    );
  }
  if (!certs.email) {
    throw new ConfigError("Set [certificates] email: the ACME account needs a contact address");
  }
  if (certs.issue_on === "server") {
    for (const p of planDomains(env)) {
      if (p.domain.challenge === "dns") {
        throw new ConfigError(
          `${p.where}: DNS-01 runs on this machine: set [certificates] issue_on = "controller"`,
        );
      }
      if (p.hosts.length > 1) {
        throw new ConfigError(
          `${p.where}: with issue_on = "server" each server issues its own certificate, and ` +
            `HTTP-01 for ${p.domain.name} reaches only one of ${
              p.hosts.map((h) => h.name).join(", ")
            }`,
          { hint: 'Set [certificates] issue_on = "controller": it issues once and copies to all.' },
        );
      }
    }
  }
  for (const p of planDomains(env)) {
    if (p.hosts.length === 0) {
      throw new ConfigError(
        `${p.where}: no host of ${env.name} serves ${p.domain.name}`,
        { hint: "List the hosts in its hosts = [...], or add the name to nginx.server_name." },
      );
    }
  }
  return certs;
}
