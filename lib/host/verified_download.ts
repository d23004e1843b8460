/**
 * Third-party files the modules install (litestream, tailscale, CPython
 * sources) are downloaded here, on the deploying machine, and checked
 * against their configured SHA-256 before anything is sent: a file whose
 * content changed is refused and never reaches a server. Verified files are
 * cached by hash; servers get them over the run's SSH connection (rsync), so
 * they need no access to the internet, and check the hash again.
 */
import * as remotePath from "../remote_path.ts";
import { join } from "../paths.ts";
import { UserError } from "../errors.ts";
import type { StepContext } from "../engine/module_api.ts";
import { CHECK_SHA256_SH } from "./programs.gen.ts";
import { sha256Hex } from "../hash.ts";
import { djaployCacheDir } from "../cache.ts";

/**
 * The largest file djaploy downloads for a module (a release tarball, a
 * CPython source archive): 512 MiB. Bigger answers are cut off and refused.
 */
export const DOWNLOAD_MAX_BYTES = 512 * 1024 * 1024;

/** Where servers keep verified downloads, one folder per SHA-256. */
export const SERVER_DOWNLOADS = "/var/cache/djaploy/downloads";

/** A download whose SHA-256 was checked, kept in the local cache. */
export interface VerifiedFile {
  /** The local folder holding only this file (named by its hash). */
  readonly dir: string;
  /** The file itself. */
  readonly path: string;
  /** The file's name, from the URL. */
  readonly name: string;
  /** Its SHA-256, as checked. */
  readonly sha256: string;
}

export function localCacheDir(): string {
  return join(djaployCacheDir(), "downloads");
}

/** Fills `{name}` placeholders of a configured URL. */
export function fillUrl(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (all, key: string) => values[key] ?? all);
}

/** Debian's and Go's names for the server's architecture (`uname -m`). */
export function goArch(unameM: string): string {
  const m = unameM.trim();
  if (m === "x86_64" || m === "amd64") return "amd64";
  if (m === "aarch64" || m === "arm64") return "arm64";
  if (m.startsWith("armv7")) return "arm";
  if (m === "i686" || m === "i386") return "386";
  return m;
}

/**
 * The file at `url`, whose SHA-256 must be `sha256`: from the cache when it
 * is there, else downloaded. A mismatch is a UserError and nothing is kept.
 * Without `sha256` (a setting left unpinned) the file is taken as it is.
 */
export async function downloadVerified(
  url: string,
  sha256: string | undefined,
  opts: { cacheDir?: string; what?: string; signal?: AbortSignal } = {},
): Promise<VerifiedFile> {
  const name = remotePath.basename(new URL(url).pathname) || "download";
  const cacheDir = opts.cacheDir ?? localCacheDir();
  if (sha256 !== undefined) {
    const want = sha256.toLowerCase();
    const dir = join(cacheDir, want);
    const path = join(dir, name);
    const cached = await Deno.readFile(path).catch(() => undefined);
    if (cached && await sha256Hex(cached) === want) return { dir, path, name, sha256: want };
  }
  const what = opts.what ?? name;
  let bytes: Uint8Array;
  try {
    bytes = await fetchLimited(url, { maxBytes: DOWNLOAD_MAX_BYTES, signal: opts.signal });
  } catch (err) {
    throw new UserError(
      `Download ${what}: ${url} could not be fetched: ${err instanceof Error ? err.message : err}`,
      { hint: "Check the URL setting, and that this machine reaches it." },
    );
  }
  const got = await sha256Hex(bytes);
  // Unpinned (sha256 undefined): accepted as it is, and cached under its own hash.
  const want = sha256?.toLowerCase() ?? got;
  if (got !== want) {
    throw new UserError(
      `Refused ${what} from ${url}: its SHA-256 is ${got}, not the configured ${want}`,
      {
        hint: "Nothing was installed. If the release really changed, check it and update the " +
          "sha256 setting; otherwise the file was tampered with or the pin is wrong.",
      },
    );
  }
  const dir = join(cacheDir, want);
  const path = join(dir, name);
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.part-${crypto.randomUUID()}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
  return { dir, path, name, sha256: want };
}

/**
 * GETs `url` and returns its body, refusing more than `maxBytes` (whatever
 * Content-Length says: the body is counted as it arrives) and a redirect
 * from https:// to plain http://.
 */
export async function fetchLimited(
  url: string,
  opts: { maxBytes: number; signal?: AbortSignal },
): Promise<Uint8Array> {
  const res = await fetch(url, { signal: opts.signal });
  const tooBig = () =>
    new Error(`it is larger than djaploy's limit of ${opts.maxBytes} bytes for this download`);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} ${res.statusText}`);
  }
  if (url.startsWith("https:") && !res.url.startsWith("https:")) {
    await res.body?.cancel();
    throw new Error(`it redirects to ${res.url}, which is not https://`);
  }
  const length = Number(res.headers.get("content-length") ?? "0");
  if (length > opts.maxBytes) {
    await res.body?.cancel();
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body ?? new ReadableStream<Uint8Array>()) {
    total += chunk.length;
    if (total > opts.maxBytes) throw tooBig();
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Sends a verified file to the host (rsync over the run's connection; sent
 * only when the host does not have it yet) and returns its path there.
 */
export async function shipVerified(ctx: StepContext, file: VerifiedFile): Promise<string> {
  const dest = remotePath.join(SERVER_DOWNLOADS, file.sha256);
  // rsync makes the last folder only.
  await ctx.exec.run({ argv: ["install", "-d", "-m", "0755", dest], as: "root" });
  await ctx.exec.sync({ source: file.dir, dest, as: "root" });
  return remotePath.join(dest, file.name);
}

/** Checks a shipped file's hash on the host again; arguments: path sha256. */
export { CHECK_SHA256_SH };
