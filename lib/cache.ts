/** The local cache folder (artifacts): outside the project, so git never sees it. */
import { join } from "./paths.ts";
import { sha256 } from "./hash.ts";
import type { ProjectConfig } from "./config/types.ts";

export function cacheDir(project: ProjectConfig): string {
  const base = Deno.env.get("DJAPLOY_CACHE_DIR") ??
    join(
      Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/tmp", ".cache"),
      "djaploy",
    );
  return join(base, `${project.project_name}-${sha256(project.repo_dir).slice(0, 8)}`);
}
