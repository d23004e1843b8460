/**
 * The environment's `[certificates]`: djaploy.toml merged with the inventory's
 * [defaults], defaults filled in, and each domain's `hosts` checked against
 * the inventory; and the module order a tailscale certificate needs.
 */
import type { CertificatesConfig, HostConfig } from "./types.ts";
import { mergeLayers, resolveDefaults } from "./build_host.ts";
import type { Layer } from "./validate_layer.ts";
import { ConfigError } from "../errors.ts";
import { suggestion } from "./did_you_mean.ts";
import { quoteList } from "./validators.ts";

export function buildCertificates(
  layers: readonly Layer[],
  hostNames: readonly string[],
  file: string,
): CertificatesConfig {
  const certs = resolveDefaults(mergeLayers(layers)).certificates as CertificatesConfig;
  certs.domains.forEach((d, i) => {
    for (const [j, h] of (d.hosts ?? []).entries()) {
      if (!hostNames.includes(h)) {
        throw new ConfigError(
          `${file}: certificates.domains[${i}].hosts[${j}]: unknown host ${JSON.stringify(h)}${
            suggestion(h, hostNames)
          }: this environment has ${hostNames.map((n) => JSON.stringify(n)).join(", ")}`,
        );
      }
    }
  });
  return certs;
}

/**
 * `[tailscale] cert = true` on a host with the certs module: the certs module
 * installs the certificate `tailscale cert` fetches, which needs tailscale
 * installed and joined first, so "tailscale" must come before "certs" in
 * `modules`. `modulesKey(i)` names the file and key that set the modules of
 * hosts[i], e.g. `infra/djaploy.toml: modules`.
 */
export function checkTailnetCertificates(
  hosts: readonly HostConfig[],
  modulesKey: (index: number) => string,
): void {
  hosts.forEach((host, i) => {
    const specs = host.modules.map((m) => m.spec);
    const tailscale = specs.indexOf("tailscale");
    const certs = specs.indexOf("certs");
    if (!host.tailscale.cert || tailscale === -1 || certs === -1 || tailscale < certs) return;
    const fixed = [
      ...specs.slice(0, certs),
      "tailscale",
      ...specs.slice(certs).filter((s) => s !== "tailscale"),
    ];
    throw new ConfigError(
      `${modulesKey(i)}: must list "tailscale" before "certs" for host ${
        JSON.stringify(host.name)
      }, whose [tailscale] cert = true has the certs module serve the node's tailscale ` +
        `certificate (tailscale must be up first): got [${quoteList(specs)}]`,
      { hint: `modules = [${quoteList(fixed)}]` },
    );
  });
}
