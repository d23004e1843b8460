/**
 * Bunny DNS (bunny.net), through its HTTP API: find the zone that holds the
 * name (GET /dnszone), add a TXT record (PUT /dnszone/{id}/records), delete
 * it afterwards (DELETE /dnszone/{id}/records/{recordId}). The API key goes
 * in the AccessKey header, never in a URL or a message.
 *
 * credentials: `api_key` (required), `api_url` (default https://api.bunny.net,
 * for a proxy or a test stand-in), `propagation_seconds` (default 30).
 */
import { UserError } from "../../errors.ts";
import { credential, type DnsProvider, type ProviderSettings, setting } from "./provider.ts";

export const BUNNY_API = "https://api.bunny.net";
const TXT = 3;

interface Zone {
  readonly Id: number;
  readonly Domain: string;
}

export function bunnyProvider(settings: ProviderSettings): DnsProvider {
  const key = credential(settings, "api_key", "env:BUNNY_API_KEY");
  const base = (setting(settings, "api_url") ?? BUNNY_API).replace(/\/+$/, "");
  const wait = Number(setting(settings, "propagation_seconds") ?? 30);

  async function call(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          AccessKey: key.reveal(),
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UserError(
        `Reach Bunny DNS: ${method} ${base}${path} failed: ${
          err instanceof Error ? err.message : err
        }`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      const detail = /"Message"\s*:\s*"([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 200);
      throw new UserError(
        `Bunny DNS refused ${method} ${path}: HTTP ${response.status}${
          detail ? `: ${detail}` : ""
        }`,
        {
          hint: response.status === 401
            ? `Check the api_key of ${settings.where}.credentials.`
            : undefined,
        },
      );
    }
    return text === "" ? undefined : JSON.parse(text);
  }

  async function zoneFor(fqdn: string): Promise<Zone> {
    const zones: Zone[] = [];
    for (let page = 1; page < 100; page++) {
      const r = await call("GET", `/dnszone?page=${page}&perPage=1000`) as {
        Items?: Zone[];
        HasMoreItems?: boolean;
      };
      zones.push(...(r.Items ?? []));
      if (!r.HasMoreItems) break;
    }
    // The longest zone name the record's name ends with.
    const match = zones
      .filter((z) => fqdn === z.Domain.toLowerCase() || fqdn.endsWith(`.${z.Domain.toLowerCase()}`))
      .sort((a, b) => b.Domain.length - a.Domain.length)[0];
    if (!match) {
      throw new UserError(`Add a Bunny DNS zone for ${fqdn}: the account has none that holds it`, {
        hint: `Zones in this account: ${zones.map((z) => z.Domain).join(", ") || "none"}`,
      });
    }
    return match;
  }

  return {
    name: "bunny",
    propagationSeconds: Number.isFinite(wait) && wait >= 0 ? wait : 30,
    async present(fqdn, value) {
      const zone = await zoneFor(fqdn);
      const name = fqdn.slice(0, fqdn.length - zone.Domain.length).replace(/\.$/, "");
      const record = await call("PUT", `/dnszone/${zone.Id}/records`, {
        Type: TXT,
        Name: name,
        Value: value,
        Ttl: 60,
      }) as { Id?: number };
      if (typeof record?.Id !== "number") {
        throw new UserError(`Bunny DNS did not return the new record's Id for ${fqdn}`);
      }
      return { fqdn, value, ref: { zone: zone.Id, id: record.Id } };
    },
    async cleanup(record) {
      const { zone, id } = record.ref as { zone: number; id: number };
      await call("DELETE", `/dnszone/${zone}/records/${id}`);
    },
  };
}
