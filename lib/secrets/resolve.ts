/**
 * Resolves secret references (`env:NAME`, `file:PATH`, `op://...`) on the
 * deploying machine, once per reference per run. 1Password references are
 * read in one batch (`preload`, one `op inject` for the whole run). Every
 * resolved value is registered with the UI's mask, so it can never be printed.
 */
import { isSecretRef, Secret, type SecretRef } from "./secret.ts";
import type { EnvValue, HostConfig, ProjectConfig } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import { expandHome } from "../paths.ts";
import { readOpReferences } from "./op.ts";
import { operationsSecretRefs } from "../backup/secret_refs.ts";

export class SecretResolver {
  readonly #cache = new Map<string, Secret>();
  readonly #onSecret: (value: string) => void;
  readonly #baseDir: string;

  constructor(opts: { onSecret: (value: string) => void; baseDir: string }) {
    this.#onSecret = opts.onSecret;
    this.#baseDir = opts.baseDir;
  }

  /** Reads every 1Password reference among `refs` not read yet, with one `op` call. */
  async preload(refs: Iterable<SecretRef>): Promise<void> {
    const wanted = [...new Set([...refs].filter((r) => r.kind === "op").map((r) => r.target))]
      .filter((ref) => !this.#cache.has(ref));
    if (wanted.length === 0) return;
    const values = await readOpReferences(wanted);
    for (const [ref, value] of values) this.#remember(ref, value);
  }

  #remember(source: string, value: string): Secret {
    const secret = new Secret(value);
    this.#onSecret(value);
    this.#cache.set(source, secret);
    return secret;
  }

  /** A configured secret: a reference is resolved, a plain value is wrapped (and masked) as is. */
  async secret(value: string | SecretRef, where: string): Promise<Secret> {
    if (isSecretRef(value)) return await this.resolve(value, where);
    this.#onSecret(value);
    return new Secret(value);
  }

  async resolve(ref: SecretRef, where: string): Promise<Secret> {
    const cached = this.#cache.get(ref.source);
    if (cached) return cached;
    let value: string;
    if (ref.kind === "env") {
      const v = Deno.env.get(ref.target);
      if (v === undefined) {
        throw new ConfigError(
          `${where}: set the environment variable ${ref.target}: "${ref.source}" refers to it`,
        );
      }
      value = v;
    } else if (ref.kind === "file") {
      const path = expandHome(ref.target);
      const full = path.startsWith("/") ? path : `${this.#baseDir}/${path}`;
      try {
        value = (await Deno.readTextFile(full)).replace(/\r?\n$/, "");
      } catch (err) {
        throw new ConfigError(
          `${where}: cannot read the secret file ${full}: ${
            err instanceof Error ? err.message : err
          }`,
        );
      }
    } else {
      await this.preload([ref]);
      return this.#cache.get(ref.source)!;
    }
    return this.#remember(ref.source, value);
  }

  /** The host's [env] with every reference resolved. */
  async appEnv(host: HostConfig): Promise<Map<string, string | Secret>> {
    const out = new Map<string, string | Secret>();
    for (const [key, value] of Object.entries(host.env) as [string, EnvValue][]) {
      out.set(key, isSecretRef(value) ? await this.resolve(value, `env.${key}`) : value);
    }
    return out;
  }
}

/**
 * Every secret reference a command resolves: the hosts' [env] and package
 * indexes, and for a
 * deploy the notification webhook and the llm changelog's key. Resolved
 * together so 1Password is asked once.
 */
export function secretRefsOf(
  project: ProjectConfig,
  hosts: readonly HostConfig[],
  opts: { notifications?: boolean } = {},
): SecretRef[] {
  const refs: SecretRef[] = [];
  for (const host of hosts) {
    for (const value of Object.values(host.env) as EnvValue[]) {
      if (isSecretRef(value)) refs.push(value);
    }
    refs.push(...operationsSecretRefs(host));
    for (const u of [host.dependencies.index_url, ...host.dependencies.extra_index_urls]) {
      if (isSecretRef(u)) refs.push(u);
    }
  }
  const n = project.notifications;
  if (opts.notifications && n) {
    for (const value of [n.webhook_url, n.changelog_config?.api_key]) {
      if (isSecretRef(value)) refs.push(value);
    }
  }
  return refs;
}
