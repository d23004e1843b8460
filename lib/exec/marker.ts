/**
 * In-band markers for the output of scripts djaploy runs on hosts. Each
 * carries a random nonce made for the run that parses it, so output that
 * other users control (a link target, a file the app user wrote, a command's
 * error text) cannot end a section early or forge one.
 */
import { randomBytes } from "node:crypto";

/** `@@djaploy-<name>-<32 hex digits>`, new on every call. */
export function marker(name: string): string {
  return `@@djaploy-${name}-${randomBytes(16).toString("hex")}`;
}
