/**
 * Secrets are a type: a `Secret` prints as [REDACTED] everywhere (logs, dry
 * runs, errors, JSON) and gives up its value only through `reveal()`, which
 * is called where the value is handed to the process that needs it.
 */

export const REDACTED = "[REDACTED]";

/** A reference to a secret as written in a config file: `env:NAME` or `file:PATH`. */
export interface SecretRef {
  /** Where the value is: an environment variable, a file, or 1Password. */
  readonly kind: "env" | "file" | "op";
  /** The part after the prefix: a variable name, a path or an `op://` URI. */
  readonly target: string;
  /** The reference as written, for error messages (it holds no secret). */
  readonly source: string;
}

const REF_PATTERN = /^(env|file):(.+)$/;

/** Parses a config string into a secret reference, or returns undefined for a plain value. */
export function parseSecretRef(value: string): SecretRef | undefined {
  if (value.startsWith("op://")) return { kind: "op", target: value, source: value };
  const m = REF_PATTERN.exec(value);
  if (!m) return undefined;
  return { kind: m[1] as "env" | "file", target: m[2], source: value };
}

/** Whether a config value is a secret reference rather than a plain value. */
export function isSecretRef(value: unknown): value is SecretRef {
  return typeof value === "object" && value !== null && "kind" in value && "target" in value &&
    "source" in value;
}

/** A secret value: it prints as [REDACTED] everywhere and gives its value only to `reveal()`. */
export class Secret {
  readonly #value: string;
  /** Wraps `value`; it is masked in every output of the run from then on. */
  constructor(value: string) {
    this.#value = value;
  }
  /** The value, where it is handed to the process that needs it. */
  reveal(): string {
    return this.#value;
  }
  /** [REDACTED]. */
  toString(): string {
    return REDACTED;
  }
  /** [REDACTED]. */
  toJSON(): string {
    return REDACTED;
  }
  /** [REDACTED]. */
  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }
}

/** Replaces every occurrence of the given secret values in text with [REDACTED]. */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  // Longest first: a secret that contains another must not be half-masked.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 4) out = out.split(s).join(REDACTED);
  }
  return out;
}
