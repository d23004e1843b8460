/**
 * The environment's `[certificates]`: djaploy.toml merged with the inventory's
 * [defaults], defaults filled in, and each domain's `hosts` checked against
 * the inventory.
 */
import type { CertificatesConfig } from "./types.ts";
import { mergeLayers, resolveDefaults } from "./build_host.ts";
import type { Layer } from "./validate_layer.ts";
import { ConfigError } from "../errors.ts";
import { suggestion } from "./did_you_mean.ts";

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
