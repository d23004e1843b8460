/** The one SHA-256 helper: hex digests of text or bytes (files, artifacts, downloads, modules). */
import { createHash } from "node:crypto";
import { RunTable } from "./run_table.ts";

/** The SHA-256 of `data` (text as UTF-8), lowercase hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The SHA-256 of a text that many hosts of a run have in common (a managed
 * file's content, the same on every host of a fleet), hashed once per run:
 * each further host only looks it up. Never for a secret's text, which no
 * table keeps.
 */
export function sharedTextSha256(text: string): string {
  return sharedHashes.get(text, () => sha256(text));
}

const sharedHashes = new RunTable<string, string>(256);
