/**
 * The SHA-256 helpers: hex digests of text or bytes (files, artifacts,
 * downloads, modules). djaploy's own hashing goes through Web Crypto
 * (`sha256Hex`), which needs nothing loaded at start; `sha256`, the
 * synchronous one of the module API (mod.ts), loads node:crypto on its
 * first call (lib/node_builtins.ts).
 */
import { nodeCrypto } from "./node_builtins.ts";
import { RunTable } from "./run_table.ts";

const encoder = new TextEncoder();

/** The SHA-256 of `data` (text as UTF-8), lowercase hex. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return await digestHex("SHA-256", typeof data === "string" ? encoder.encode(data) : data);
}

/**
 * The SHA-256 of `data` (text as UTF-8), lowercase hex, at once: for a
 * module's step that compares a file's hash from the facts with what it
 * would write. The first call in a run loads node:crypto (a few tens of
 * milliseconds of CPU); Web Crypto's `crypto.subtle.digest` loads nothing
 * (docs/modules.md).
 */
export function sha256(data: string | Uint8Array): string {
  return nodeCrypto().createHash("sha256").update(data).digest("hex");
}

/** `algorithm`'s digest of `bytes` through Web Crypto, lowercase hex. */
export async function digestHex(
  algorithm: "SHA-1" | "SHA-256",
  bytes: Uint8Array,
): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest(algorithm, bytes as BufferSource));
  let hex = "";
  for (const b of digest) hex += HEX[b];
  return hex;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * The SHA-256 of a text that many hosts of a run have in common (a managed
 * file's content, the same on every host of a fleet), hashed once per run:
 * each further host only looks it up. Never for a secret's text, which no
 * table keeps.
 */
export function sharedTextSha256(text: string): Promise<string> {
  return sharedHashes.get(text, () => sha256Hex(text));
}

const sharedHashes = new RunTable<string, Promise<string>>(256);
