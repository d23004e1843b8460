/**
 * djaploy's public API, for module authors and embedders. Importing it has
 * no side effects.
 *
 * A module is a set of named steps attached to phases of `configure` and
 * `deploy`:
 *
 * ```ts
 * import { defineModule, putFile } from "djaploy/mod.ts";
 *
 * export default defineModule({
 *   name: "motd",
 *   steps: {
 *     configure: [{
 *       name: "message of the day",
 *       run: (ctx) => putFile(ctx, { path: "/etc/motd", content: `${ctx.host.app_name}\n` }),
 *     }],
 *   },
 * });
 * ```
 * @module
 */
export { defineModule, PHASES } from "./lib/module.ts";
export type {
  HostLog,
  ModuleDefinition,
  Phase,
  ReleaseInfo,
  Step,
  StepContext,
} from "./lib/module.ts";
export type { FactProbe } from "./lib/facts.ts";
export { Facts } from "./lib/facts.ts";
export { asApp, asRoot, type FileSpec, putFile, sha256 } from "./lib/remote_ops.ts";
export { dirsProbe, fileProbe, packagesProbe, unitsProbe, userProbe } from "./lib/probes.ts";
export type { RemoteCommand } from "./lib/remote_command.ts";
export { shScript } from "./lib/remote_command.ts";
export type { ExecResult, Executor, SyncOptions, SyncResult } from "./lib/executor.ts";
export type { Layout } from "./lib/layout.ts";
export { layoutFor } from "./lib/layout.ts";
export type {
  EnvironmentConfig,
  HookCommand,
  HookPoint,
  HostConfig,
  ProjectConfig,
} from "./lib/config/types.ts";
export { HOOK_POINTS } from "./lib/config/types.ts";
export { REDACTED, Secret } from "./lib/secret.ts";
export { CommandError, ConfigError, UsageError, UserError } from "./lib/errors.ts";
export { quote, render } from "./lib/shell.ts";
export { main } from "./cli.ts";
