/**
 * The DNS providers by name (the `dns_provider` of a certificate domain).
 */
import { ConfigError } from "../../errors.ts";
import { bunnyProvider } from "./bunny.ts";
import type { DnsProvider, ProviderSettings } from "./provider.ts";

/** Makes a provider from a domain's settings. */
export type Factory = (settings: ProviderSettings) => DnsProvider;

export const PROVIDERS: Readonly<Record<string, Factory>> = { bunny: bunnyProvider };

export function dnsProvider(name: string, settings: ProviderSettings): DnsProvider {
  const factory = PROVIDERS[name];
  if (!factory) {
    throw new ConfigError(`${settings.where}.dns_provider: unknown DNS provider "${name}"`);
  }
  return factory(settings);
}
