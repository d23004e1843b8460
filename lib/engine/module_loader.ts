/**
 * The modules of a run: built-ins by name, custom ones from a path (relative
 * to the project's root) or a URL, all with the same API.
 *
 * The engine does not import the built-in modules: the program that runs it
 * (cli.ts) hands their table over once with `provideBuiltinModules`, so
 * modules/ depends on the engine's public API (mod.ts) and never the other way.
 */
import { isAbsolute, resolve, toFileUrl } from "../paths.ts";
import type { ModuleDefinition } from "./module_api.ts";
import type { ModuleRef } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import { verifiedModuleUrl } from "./pinned_module.ts";
import { moduleUrlProblem } from "../config/module_ref.ts";

let builtins: Readonly<Record<string, ModuleDefinition>> = {};

/** The built-in modules by the name a project lists them under (see modules/builtin.ts). */
export function provideBuiltinModules(table: Readonly<Record<string, ModuleDefinition>>): void {
  builtins = table;
}

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
    if (ref.kind === "builtin" || Object.hasOwn(builtins, ref.spec)) {
      const builtin = builtins[ref.spec];
      if (!builtin) {
        throw new Error(
          `built-in module "${ref.spec}" was not provided: the program must call provideBuiltinModules`,
        );
      }
      out.push(builtin);
      continue;
    }
    const remote = /^https?:\/\//.test(ref.spec);
    // Checked with the config too; here as well for callers that build refs themselves.
    const problem = remote ? moduleUrlProblem(ref.spec) : undefined;
    if (problem) throw new ConfigError(`Refused module "${ref.spec}": ${problem}`);
    // A pinned module: its content is checked before any of it runs (lib/engine/pinned_module.ts).
    const url = remote && ref.sha256
      ? await verifiedModuleUrl(ref.spec, ref.sha256)
      : remote
      ? ref.spec
      : toFileUrl(isAbsolute(ref.spec) ? ref.spec : resolve(projectDir, ref.spec)).href;
    let mod: Record<string, unknown>;
    try {
      mod = await import(url);
    } catch (err) {
      const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw new ConfigError(
        `Fix module "${ref.spec}": it could not be loaded: ${why}`,
        /import access/.test(why)
          ? {
            hint: "Deno imports code only from the hosts --allow-import names: add this one to " +
              "djaploy's permissions, or pin the module ({ url, sha256 }), which needs none.",
          }
          : undefined,
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
