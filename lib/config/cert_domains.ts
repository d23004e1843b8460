/**
 * `[[certificates.domains]]`: each entry is checked here, key by key, with
 * the same "must be ...: got ..." messages as the rest of the schema.
 */
import { parseSecretRef, type SecretRef } from "../secrets/secret.ts";
import { type CertDomainConfig, CHALLENGES, DNS_PROVIDERS } from "./types.ts";
import { suggestion } from "./did_you_mean.ts";
import {
  arrayOf,
  boolean,
  describe,
  Invalid,
  isTable,
  matching,
  oneOf,
  type PathSegment,
} from "./validators.ts";

/** A DNS name in lower case, at least two labels, no wildcard (it names folders). */
export const DOMAIN_NAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ALT_NAME =
  /^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOST_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

export const DOMAIN_KEYS: Readonly<Record<string, string>> = {
  name: "The certificate's main name (required): a DNS name in lower case, no wildcard.",
  alt_names:
    'More names on the same certificate (`"*.example.com"` only with `challenge = "dns"`).',
  challenge:
    '`"http"` (HTTP-01, served by the hosts\' nginx) or `"dns"` (DNS-01). Default `"http"`.',
  dns_provider: `For \`challenge = "dns"\`: one of ${
    DNS_PROVIDERS.map((p) => `\`"${p}"\``).join(", ")
  }.`,
  credentials: "The DNS provider's settings; keys, secrets, tokens and passwords must be secret " +
    'references (`api_key = "env:BUNNY_API_KEY"`).',
  hosts: "The inventory hosts that get this certificate. Default: every host of the environment " +
    'whose `nginx.server_name` is `"_"` or lists one of the names.',
  hsts: "Send `Strict-Transport-Security` (one year) over HTTPS. Default `false`: opt in once " +
    "HTTPS works, browsers remember it.",
};

/** The domain keys as markdown, for docs/configuration.md. */
export const DOMAIN_KEYS_DOC = "Keys of each `[[certificates.domains]]` table:\n\n" +
  markdownTable(["Key", "Meaning"], Object.entries(DOMAIN_KEYS).map(([k, v]) => [`\`${k}\``, v]));

/** A markdown table padded the way `deno fmt` pads it. */
function markdownTable(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => c.replaceAll("|", "\\|")));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

function at(index: number, key: string, e: unknown): never {
  if (e instanceof Invalid) throw new Invalid(e.problem, [index, key, ...e.at]);
  throw e;
}

/** Credential names that must be secret references, never plain values in the file. */
const SECRET_KEY = /key|secret|token|password/i;

function credentials(value: unknown): Record<string, SecretRef | string> {
  if (!isTable(value)) throw new Invalid(`must be a table: got ${describe(value)}`);
  const out: Record<string, SecretRef | string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new Invalid(`must be a string: got ${describe(v)}`, [key]);
    const ref = parseSecretRef(v);
    if (!ref && SECRET_KEY.test(key)) {
      throw new Invalid(
        'must be a secret reference ("env:NAME", "file:PATH" or "op://..."), so that the ' +
          "credential is not committed with the config: got a plain value",
        [key],
      );
    }
    out[key] = ref ?? v;
  }
  return out;
}

function domain(value: unknown, index: number): CertDomainConfig {
  if (!isTable(value)) {
    throw new Invalid(`must be a table ([[certificates.domains]]): got ${describe(value)}`, [
      index,
    ]);
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(DOMAIN_KEYS, key)) {
      throw new Invalid(
        `unknown key ${JSON.stringify(key)}${suggestion(key, Object.keys(DOMAIN_KEYS))}`,
        [index, key],
      );
    }
  }
  const field = <T>(key: string, check: (v: unknown) => T, fallback: T): T => {
    if (value[key] === undefined) return fallback;
    try {
      return check(value[key]);
    } catch (e) {
      return at(index, key, e);
    }
  };
  if (value.name === undefined) throw new Invalid("is required", [index, "name"]);
  const name = field("name", matching(DOMAIN_NAME), "");
  const altNames = field("alt_names", arrayOf(matching(ALT_NAME)), [] as string[]);
  const challenge = field("challenge", oneOf(CHALLENGES), "http" as const);
  const provider = field("dns_provider", oneOf(DNS_PROVIDERS), undefined as string | undefined);
  const creds = field("credentials", credentials, {});
  const hosts = field("hosts", arrayOf(matching(HOST_NAME)), undefined as string[] | undefined);
  const hsts = field("hsts", boolean(), false);
  if (challenge === "dns" && provider === undefined) {
    throw new Invalid(
      `is required with challenge = "dns": one of ${DNS_PROVIDERS.map((p) => `"${p}"`).join(", ")}`,
      [index, "dns_provider"],
    );
  }
  if (challenge === "http") {
    const wild = altNames.findIndex((n) => n.startsWith("*."));
    if (wild !== -1) {
      throw new Invalid(
        `a wildcard name needs challenge = "dns" (HTTP-01 cannot prove it): got ${
          describe(altNames[wild])
        }`,
        [index, "alt_names", wild],
      );
    }
    if (provider !== undefined) {
      throw new Invalid('is only used with challenge = "dns"', [index, "dns_provider"]);
    }
  }
  return {
    name,
    alt_names: altNames.filter((n) => n !== name),
    challenge,
    dns_provider: provider,
    credentials: creds,
    hosts,
    hsts,
  };
}

/** Checks the whole `domains` array: each entry, and that no name is claimed twice. */
export function parseCertDomains(value: unknown): CertDomainConfig[] {
  if (!Array.isArray(value)) {
    throw new Invalid(
      `must be an array of tables ([[certificates.domains]]): got ${describe(value)}`,
    );
  }
  const domains = value.map((v, i) => domain(v, i));
  const seen = new Map<string, number>();
  domains.forEach((d, i) => {
    for (const n of [d.name, ...d.alt_names]) {
      const first = seen.get(n);
      if (first !== undefined && first !== i) {
        const path: PathSegment[] = [i, n === d.name ? "name" : "alt_names"];
        throw new Invalid(
          `must be unique: ${JSON.stringify(n)} is also on domains[${first}]`,
          path,
        );
      }
      seen.set(n, i);
    }
  });
  return domains;
}
