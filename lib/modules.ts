/**
 * The modules of a run: built-ins by name, custom ones from a path (relative
 * to the project's root) or a URL, all with the same API.
 */
import { isAbsolute, resolve, toFileUrl } from "./paths.ts";
import type { ModuleDefinition } from "./module.ts";
import type { ModuleRef } from "./config/types.ts";
import { ConfigError } from "./errors.ts";
import core from "../modules/core/mod.ts";
import nginx from "../modules/nginx/mod.ts";
import systemd from "../modules/systemd/mod.ts";

export const BUILTIN: Readonly<Record<string, ModuleDefinition>> = { core, nginx, systemd };

function isModule(value: unknown): value is ModuleDefinition {
  return typeof value === "object" && value !== null &&
    typeof (value as ModuleDefinition).name === "string";
}

/** Loads the listed modules in order; custom ones are imported once per spec. */
export async function loadModules(
  refs: readonly ModuleRef[],
  projectDir: string,
): Promise<ModuleDefinition[]> {
  const out: ModuleDefinition[] = [];
  for (const ref of refs) {
    const builtin = BUILTIN[ref.spec];
    if (builtin) {
      out.push(builtin);
      continue;
    }
    const url = /^https?:\/\//.test(ref.spec)
      ? ref.spec
      : toFileUrl(isAbsolute(ref.spec) ? ref.spec : resolve(projectDir, ref.spec)).href;
    let mod: Record<string, unknown>;
    try {
      mod = await import(url);
    } catch (err) {
      throw new ConfigError(
        `Fix module "${ref.spec}": it could not be loaded: ${
          err instanceof Error ? err.message.split("\n")[0] : err
        }`,
      );
    }
    const def = mod.default;
    if (!isModule(def)) {
      throw new ConfigError(
        `Fix module "${ref.spec}": its default export must be a module (export default defineModule({ name, steps }))`,
      );
    }
    out.push(def);
  }
  return out;
}
