/**
 * 1Password references (`op://vault/item/field`), read with the 1Password
 * CLI. All references of a run go to one `op inject` call: a template on
 * its standard input with each reference between markers, the values come
 * back on its standard output. Nothing secret is in any argv (op takes
 * references, and they are not secret either way).
 */
import { ProgramNotFoundError, runProcess } from "../exec/process.ts";
import { ConfigError } from "../errors.ts";
import { lastLines } from "../errors.ts";

/** `op://vault/item/field` or `op://vault/item/section/field`, with optional `?attribute=...`. */
const OP_REFERENCE = /^op:\/\/[^/\s{}]+(\/[^/\s{}]+){2,3}(\?[A-Za-z0-9_=&-]+)?$/;

export function isOpReference(ref: string): boolean {
  return OP_REFERENCE.test(ref);
}

const marker = (i: number, end: boolean) => `@@djaploy-op-${i}-${end ? "end" : "start"}@@`;

/** The template `op inject` fills: one line per reference, between markers. */
export function injectTemplate(refs: readonly string[]): string {
  return refs.map((ref, i) => `${marker(i, false)}{{ ${ref} }}${marker(i, true)}\n`).join("");
}

/** The values from `op inject`'s output, by reference. */
export function parseInjected(refs: readonly string[], output: string): Map<string, string> {
  const values = new Map<string, string>();
  refs.forEach((ref, i) => {
    const start = output.indexOf(marker(i, false));
    const end = output.indexOf(marker(i, true));
    if (start < 0 || end < start) {
      throw new ConfigError(`Check the 1Password reference ${ref}: op inject gave no value for it`);
    }
    values.set(ref, output.slice(start + marker(i, false).length, end));
  });
  return values;
}

/**
 * Reads every reference with one `op inject`. Errors name the reference(s)
 * and repeat op's own message (which never holds a secret value).
 */
export async function readOpReferences(refs: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(refs)];
  if (unique.length === 0) return new Map();
  for (const ref of unique) {
    if (!isOpReference(ref)) {
      throw new ConfigError(
        `Fix the 1Password reference ${
          JSON.stringify(ref)
        }: it must look like op://vault/item/field`,
      );
    }
  }
  let r;
  try {
    r = await runProcess("op", ["inject"], { stdin: injectTemplate(unique) });
  } catch (err) {
    if (err instanceof ProgramNotFoundError) {
      throw new ConfigError(
        `Install the 1Password CLI (op): the config refers to ${unique[0]}${
          unique.length > 1 ? ` and ${unique.length - 1} more op:// references` : ""
        }`,
        { hint: "https://developer.1password.com/docs/cli/get-started/, then `op signin`" },
      );
    }
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(`Allow djaploy to run op: deno run --allow-run=...,op is needed`, {
        hint: "Add op to the --allow-run list (deno task djaploy has it).",
      });
    }
    throw err;
  }
  if (r.code !== 0) {
    throw new ConfigError(
      `Cannot read the 1Password reference${unique.length > 1 ? "s" : ""} ${
        unique.join(", ")
      }: op inject exited with code ${r.code}${
        r.stderr.trim() ? `: ${lastLines(r.stderr, 3)}` : ""
      }`,
      { hint: "Sign in (op signin, or set OP_SERVICE_ACCOUNT_TOKEN) and check the references." },
    );
  }
  return parseInjected(unique, r.stdout);
}
