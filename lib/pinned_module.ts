/**
 * Modules pinned by their SHA-256 (`{ url = "...", sha256 = "..." }`): the
 * content is fetched, its hash checked before any of it runs, and the
 * verified bytes are imported (as a data: URL), so what runs is exactly what
 * was checked. Imports inside a pinned module would be fetched unchecked:
 * a pinned module must therefore be a single file (`deno bundle` makes one).
 */
import { createHash } from "node:crypto";
import { ConfigError } from "./errors.ts";

/** Fetches `url`, checks it against `sha256`, and returns a data: URL of the verified content. */
export async function verifiedModuleUrl(url: string, sha256: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    const res = await fetch(url);
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status} ${res.statusText}`);
    }
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new ConfigError(
      `Fix module "${url}": it could not be fetched: ${err instanceof Error ? err.message : err}`,
    );
  }
  const got = createHash("sha256").update(bytes).digest("hex");
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
  const type = /\.m?js$/.test(new URL(url).pathname)
    ? "application/javascript"
    : "application/typescript";
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${type};base64,${btoa(binary)}`;
}
