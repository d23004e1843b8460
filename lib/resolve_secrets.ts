/**
 * Resolves secret references (`env:NAME`, `file:PATH`) on the deploying
 * machine, once per reference per run. Every resolved value is registered
 * with the UI's mask, so it can never be printed.
 */
import { isSecretRef, Secret, type SecretRef } from "./secret.ts";
import type { EnvValue, HostConfig } from "./config/types.ts";
import { ConfigError } from "./errors.ts";
import { expandHome } from "./paths.ts";

export class SecretResolver {
  readonly #cache = new Map<string, Secret>();
  readonly #onSecret: (value: string) => void;
  readonly #baseDir: string;

  constructor(opts: { onSecret: (value: string) => void; baseDir: string }) {
    this.#onSecret = opts.onSecret;
    this.#baseDir = opts.baseDir;
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
      throw new ConfigError(
        `${where}: 1Password references (${ref.source}) are not supported yet: use env: or file:`,
      );
    }
    const secret = new Secret(value);
    this.#onSecret(value);
    this.#cache.set(ref.source, secret);
    return secret;
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
