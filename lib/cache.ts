/** The local cache folders (artifacts, downloads): outside the project, so git never sees them. */
import { join } from "./paths.ts";
import { sha256 } from "./hash.ts";
import type { ProjectConfig } from "./config/types.ts";

/** djaploy's cache: $DJAPLOY_CACHE_DIR, else $XDG_CACHE_HOME/djaploy, else ~/.cache/djaploy. */
export function djaployCacheDir(): string {
  const explicit = Deno.env.get("DJAPLOY_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return join(xdg || join(Deno.env.get("HOME") || "/tmp", ".cache"), "djaploy");
}

/** A project's own folder in the cache (artifacts, changelogs). */
export function cacheDir(project: ProjectConfig): string {
  return join(djaployCacheDir(), `${project.project_name}-${sha256(project.repo_dir).slice(0, 8)}`);
}
