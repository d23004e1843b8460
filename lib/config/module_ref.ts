/** Entries of `modules`: a built-in name, a local path, a URL, or a URL pinned by its SHA-256. */
import { basename, resolve } from "node:path";
import type { ModuleRef } from "./types.ts";
import { suggestion } from "./did_you_mean.ts";
import {
  describe,
  Invalid,
  isTable,
  noControl,
  type ParseContext,
  quoteList,
  string,
} from "./validators.ts";

const SHA256 = /^[0-9a-fA-F]{64}$/;

export const MODULE_FORMS = 'a path starting with "./", "../" or "/" and ending in ".ts", ' +
  'an http:// or https:// URL, or { url = "https://...", sha256 = "<64 hex digits>" }';

function isUrl(s: string): boolean {
  if (!/^https?:\/\//.test(s)) return false;
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

/** Whether a URL's host is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" ||
    /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Why code may not be fetched from `url`, or undefined when it may: https://,
 * or http:// to this machine only (plain http anywhere else can be changed
 * on the way, so what runs would be whatever the network sent).
 */
export function moduleUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "it is not a URL";
  }
  if (parsed.protocol === "https:") return undefined;
  if (parsed.protocol === "http:" && isLoopbackUrl(parsed)) return undefined;
  if (parsed.protocol === "http:") {
    return "http:// is allowed only for this machine (localhost, 127.0.0.0/8, [::1]): use https://";
  }
  return `${parsed.protocol} URLs cannot be modules: use https://`;
}

/** Checks one entry of `modules` against the built-in names and the accepted forms. */
export function parseModule(
  value: unknown,
  ctx: ParseContext,
  builtins: readonly string[],
): ModuleRef {
  if (typeof value === "string") {
    noControl(value);
    if (builtins.includes(value)) return { spec: value, kind: "builtin" };
    if (/^(\.\/|\.\.\/|\/)/.test(value) && value.endsWith(".ts")) {
      return { spec: value, kind: "path", path: resolve(ctx.baseDir, value) };
    }
    if (isUrl(value)) {
      const problem = moduleUrlProblem(value);
      if (problem) throw new Invalid(`refused module ${JSON.stringify(value)}: ${problem}`);
      return { spec: value, kind: "url" };
    }
    throw new Invalid(
      `unknown module ${JSON.stringify(value)}${suggestion(value, builtins)}: must be a built-in ` +
        `module (${quoteList(builtins)}), ${MODULE_FORMS}`,
    );
  }
  if (isTable(value)) {
    for (const key of Object.keys(value)) {
      if (key !== "url" && key !== "sha256") {
        throw new Invalid(
          `unknown key ${JSON.stringify(key)}${suggestion(key, ["url", "sha256"])}`,
          [
            key,
          ],
        );
      }
    }
    if (value.url === undefined) throw new Invalid("is required", ["url"]);
    if (value.sha256 === undefined) throw new Invalid("is required", ["sha256"]);
    const url = string()(value.url);
    if (!isUrl(url)) {
      throw new Invalid(`must be an https:// URL: got ${describe(url)}`, ["url"]);
    }
    const problem = moduleUrlProblem(url);
    if (problem) throw new Invalid(`refused ${JSON.stringify(url)}: ${problem}`, ["url"]);
    const sha = value.sha256;
    if (typeof sha !== "string" || !SHA256.test(sha)) {
      throw new Invalid(`must be 64 hex digits (a SHA-256): got ${describe(sha)}`, ["sha256"]);
    }
    return { spec: url, kind: "url", sha256: sha.toLowerCase() };
  }
  throw new Invalid(
    `must be a module name, path, URL or { url, sha256 } table: got ${describe(value)}`,
  );
}

/** The name of the table a custom module's settings live in: its file name without `.ts`. */
export function moduleTableName(ref: ModuleRef): string | undefined {
  if (ref.kind === "builtin") return undefined;
  let path = ref.spec;
  if (ref.kind === "url" || isUrl(ref.spec)) {
    try {
      path = new URL(ref.spec).pathname;
    } catch {
      return undefined;
    }
  }
  // A pinned module is often a bundle (.js): its table is named without the extension too.
  const name = basename(path).replace(/\.(ts|js|mjs)$/, "");
  return name === "" ? undefined : name;
}
