/**
 * Paths on the servers: POSIX paths, with node:path's `posix` semantics, for
 * every remote path djaploy builds (import it as `* as remotePath`).
 *
 * node:path walks a path character by character in JavaScript. A deploy
 * joins a few dozen paths per host, and over a fleet that walk gets hot
 * enough for V8 to compile it with its optimizing compiler: 30-40 ms on a
 * helper thread in a 32-host run, about 1 ms per host. Nearly every path
 * djaploy joins is already in normal form (no empty, "." or ".." segment, no
 * trailing slash), and such a path is its own normal form: one regular
 * expression, run as native code, tells; any other path goes to node:path.
 */
import { posix } from "node:path";

/** One or more segments, none empty, "." or "..", with or without a leading slash. */
const NORMAL = /^\/?(?!\.\.?(?:\/|$))[^/]+(?:\/(?!\.\.?(?:\/|$))[^/]+)*$/;

/** As `posix.normalize`. */
export function normalize(path: string): string {
  return NORMAL.test(path) ? path : posix.normalize(path);
}

/** As `posix.join`: the non-empty parts joined with "/", normalized ("." for none). */
export function join(...parts: string[]): string {
  const joined = parts.filter((part) => part !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/** As `posix.dirname`. */
export function dirname(path: string): string {
  if (!NORMAL.test(path)) return posix.dirname(path);
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/** As `posix.basename`. */
export function basename(path: string, suffix?: string): string {
  if (suffix !== undefined || !NORMAL.test(path)) return posix.basename(path, suffix);
  return path.slice(path.lastIndexOf("/") + 1);
}

/** As `posix.relative`. */
export function relative(from: string, to: string): string {
  return posix.relative(from, to);
}

/** As `posix.isAbsolute`. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}
