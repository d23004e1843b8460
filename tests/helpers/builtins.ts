/**
 * Imported for its effect: hands the built-in modules to the module loader,
 * as cli.ts does for the program, in tests that build sessions or plans
 * without going through cli.ts.
 */
import { provideBuiltinModules } from "../../lib/engine/module_loader.ts";
import { BUILTIN } from "../../modules/builtin.ts";

provideBuiltinModules(BUILTIN);
