/** The local cache folders (artifacts, downloads): outside the project, so git never sees them. */
import { join } from "./paths.ts";
import { sha256Hex } from "./hash.ts";
import type { ProjectConfig } from "./config/types.ts";

/** djaploy's cache: $DJAPLOY_CACHE_DIR, else $XDG_CACHE_HOME/djaploy, else ~/.cache/djaploy. */
export function djaployCacheDir(): string {
  const explicit = Deno.env.get("DJAPLOY_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return join(xdg || join(Deno.env.get("HOME") || "/tmp", ".cache"), "djaploy");
}

/** A project's own folder in the cache (artifacts, changelogs). */
export async function cacheDir(project: ProjectConfig): Promise<string> {
  const id = (await sha256Hex(project.repo_dir)).slice(0, 8);
  return join(djaployCacheDir(), `${project.project_name}-${id}`);
}
