/** Local path helpers (node:path), in one place so remote code never mixes them up with posix paths. */
export { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export function toFileUrl(path: string): URL {
  return pathToFileURL(path);
}

/** Expands a leading `~/` to the home directory. */
export function expandHome(path: string): string {
  if (path === "~" || path.startsWith("~/")) {
    const home = Deno.env.get("HOME") ?? "";
    return home + path.slice(1);
  }
  return path;
}
