/**
 * DNS-01: a provider puts the `_acme-challenge` TXT record in place and takes
 * it away again. One file per provider; add a provider by adding a file and
 * its name to DNS_PROVIDERS (lib/config/types.ts) and PROVIDERS
 * (registry.ts). This file holds what a provider file needs, so no provider
 * imports the registry that imports it.
 */
import type { Secret } from "../../secrets/secret.ts";
import { ConfigError } from "../../errors.ts";

/** A TXT record a provider created, enough to remove it again. */
export interface TxtRecord {
  readonly fqdn: string;
  readonly value: string;
  /** Provider data (zone and record ids). */
  readonly ref: unknown;
}

export interface DnsProvider {
  readonly name: string;
  /** Creates `fqdn TXT value` (fqdn without the trailing dot). */
  present(fqdn: string, value: string): Promise<TxtRecord>;
  cleanup(record: TxtRecord): Promise<void>;
  /** Seconds to wait after the last record, for the provider's name servers to serve it. */
  readonly propagationSeconds: number;
}

export interface ProviderSettings {
  /** The domain's resolved `credentials`. */
  readonly credentials: ReadonlyMap<string, Secret>;
  /** Where the domain's config is, for error messages (`certificates.domains[0]`). */
  readonly where: string;
}

/** A required credential, or a ConfigError naming the key to add. */
export function credential(settings: ProviderSettings, key: string, example: string): Secret {
  const value = settings.credentials.get(key);
  if (!value) {
    throw new ConfigError(
      `${settings.where}.credentials.${key}: is required by this DNS provider`,
      { hint: `Add ${key} = "${example}" to the domain's credentials table.` },
    );
  }
  return value;
}

/** An optional plain credential (a URL, a number), or the default. */
export function setting(settings: ProviderSettings, key: string): string | undefined {
  return settings.credentials.get(key)?.reveal();
}
