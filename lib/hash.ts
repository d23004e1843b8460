/** The one SHA-256 helper: hex digests of text or bytes (files, artifacts, downloads, modules). */
import { createHash } from "node:crypto";

/** The SHA-256 of `data` (text as UTF-8), lowercase hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
