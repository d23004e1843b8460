/**
 * Modules pinned by their SHA-256 (`{ url = "...", sha256 = "..." }`): the
 * content is fetched (https://, or http:// to this machine only; at most
 * MODULE_MAX_BYTES), its hash checked before any of it runs, and the
 * verified bytes are imported (as a data: URL), so what runs is exactly what
 * was checked.
 *
 * The pin covers one file, so the whole import graph must be that file: a
 * pinned module may import nothing but `node:` built-ins (part of the
 * runtime that runs djaploy). Type-only imports (`import type`) are erased
 * before it runs and are allowed. Any other import, static or dynamic, and a
 * dynamic import whose target is computed, is refused before anything runs:
 * bundle the module into one file (`deno bundle`) and pin the bundle.
 */
// deno-lint-ignore no-import-prefix -- the sources run from a URL, with no import map
import { init, parse } from "npm:es-module-lexer@1.7.0";
import { ConfigError } from "../errors.ts";
import { moduleUrlProblem } from "../config/module_ref.ts";
import { fetchLimited } from "../host/verified_download.ts";
import { sha256Hex } from "../hash.ts";

/** The largest pinned module djaploy fetches: 8 MiB (a bundle with its npm packages fits). */
export const MODULE_MAX_BYTES = 8 * 1024 * 1024;

/** Fetches `url`, checks it against `sha256`, and returns a data: URL of the verified content. */
export async function verifiedModuleUrl(url: string, sha256: string): Promise<string> {
  const problem = moduleUrlProblem(url);
  if (problem) throw new ConfigError(`Refused module "${url}": ${problem}`);
  let bytes: Uint8Array;
  try {
    bytes = await fetchLimited(url, { maxBytes: MODULE_MAX_BYTES });
  } catch (err) {
    throw new ConfigError(
      `Fix module "${url}": it could not be fetched: ${err instanceof Error ? err.message : err}`,
    );
  }
  const got = await sha256Hex(bytes);
  if (got !== sha256.toLowerCase()) {
    throw new ConfigError(
      `Refused module "${url}": its content does not match its pin: sha256 is ${got}, the ` +
        `config pins ${sha256.toLowerCase()}`,
      {
        hint: "Nothing ran. If the module's new version is intended, review it and update " +
          "sha256 in modules; otherwise it was changed by someone else.",
      },
    );
  }
  await checkImports(url, new TextDecoder().decode(bytes));
  const type = /\.m?js$/.test(new URL(url).pathname)
    ? "application/javascript"
    : "application/typescript";
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${type};base64,${btoa(binary)}`;
}

/** An import of a pinned module that its pin does not cover. */
export interface UncoveredImport {
  /** The specifier, or undefined for a dynamic import of a computed value. */
  readonly specifier?: string;
  readonly line: number;
}

/** The imports of `source` that would run code its pin does not cover. */
export async function uncoveredImports(source: string): Promise<UncoveredImport[]> {
  await init;
  const [imports] = parse(source);
  const out: UncoveredImport[] = [];
  for (const i of imports) {
    if (i.d === -2) continue; // import.meta
    const statement = source.slice(i.ss, i.se);
    // Erased before the module runs: nothing is fetched for them.
    if (i.d === -1 && /^(import|export)\s+type\b/.test(statement)) continue;
    if (i.n !== undefined && i.n.startsWith("node:")) continue;
    out.push({ specifier: i.n, line: source.slice(0, i.ss).split("\n").length });
  }
  return out;
}

async function checkImports(url: string, source: string): Promise<void> {
  let found: UncoveredImport[];
  try {
    found = await uncoveredImports(source);
  } catch (err) {
    throw new ConfigError(
      `Refused module "${url}": its imports could not be read, so its pin cannot be shown to ` +
        `cover them: ${err instanceof Error ? err.message.split("\n")[0] : err}`,
      { hint: "Bundle it into one JavaScript file (deno bundle) and pin that." },
    );
  }
  if (found.length === 0) return;
  const first = found[0];
  throw new ConfigError(
    `Refused module "${url}": it is pinned, but line ${first.line} imports ${
      first.specifier === undefined ? "a computed specifier" : `"${first.specifier}"`
    }, which the pin does not cover: a pinned module may import only node: built-ins` +
      (found.length > 1 ? ` (${found.length} such imports)` : ""),
    {
      hint: "Nothing ran. Bundle the module with what it imports into one file " +
        "(deno bundle) and pin the bundle, or list the module unpinned.",
    },
  );
}
