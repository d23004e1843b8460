/**
 * In-band markers for the output of scripts djaploy runs on hosts. Each
 * carries a random nonce made for the run that parses it, so output that
 * other users control (a link target, a file the app user wrote, a command's
 * error text) cannot end a section early or forge one.
 */

/** `@@djaploy-<name>-<32 hex digits>`, new on every call. */
export function marker(name: string): string {
  // Web Crypto's generator, not node:crypto's randomBytes: the same kernel source, without
  // node:buffer's and the validators' JavaScript (a few markers per host, over a fleet).
  return `@@djaploy-${name}-${crypto.getRandomValues(new Uint8Array(16)).toHex()}`;
}
