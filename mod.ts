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
export {
  appUnitsProbe,
  archProbe,
  dirsProbe,
  fileProbe,
  linkProbe,
  packagesProbe,
  unitsProbe,
  userProbe,
} from "./lib/probes.ts";
export { runChain } from "./lib/chain.ts";
export type { RemoteCommand } from "./lib/remote_command.ts";
export { shScript } from "./lib/remote_command.ts";
export type { ExecResult, Executor, SyncOptions, SyncResult } from "./lib/executor.ts";
export type { Layout } from "./lib/layout.ts";
export { layoutFor } from "./lib/layout.ts";
export type { EnvironmentConfig, HostConfig, ProjectConfig } from "./lib/config/types.ts";
export { isSecretRef, REDACTED, Secret, type SecretRef } from "./lib/secret.ts";
export { CommandError, ConfigError, UsageError, UserError } from "./lib/errors.ts";
export { quote, render } from "./lib/shell.ts";

// What the built-in modules share; a module of your own may use it the same way.
export { configSecret } from "./lib/backup/secrets.ts";
export {
  CHECK_SHA256_SH,
  downloadVerified,
  fillUrl,
  goArch,
  shipVerified,
  type VerifiedFile,
} from "./lib/verified_download.ts";
export {
  bootConfinement,
  certbotConfinement,
  litestreamConfinement,
  webConfinement,
} from "./lib/confinement.ts";
export { testAndReload } from "./lib/nginx.ts";
export { stateProbe } from "./lib/deploy_steps.ts";
export { liveProcessTarget } from "./lib/live_target.ts";
export { processUnitFiles, processUnitsProbe, syncProcessUnits } from "./lib/processes.ts";
export { configuredManager, indexFiles, managerTool, toolsProbe } from "./lib/dependencies.ts";
export {
  backupModule,
  type BackupModuleOptions,
  jobCredentials,
  putProgram,
} from "./lib/backup/module_steps.ts";
export { BACKUP_PY_PATH, backupLayout, PYTHON } from "./lib/backup/layout.ts";
export { pinHostKey, validateBorg } from "./lib/backup/borg.ts";
export { rcloneRemote, validateRclone } from "./lib/backup/rclone.ts";
export { rcloneConf } from "./lib/backup/rclone_conf.ts";
export {
  LITESTREAM_BIN,
  LITESTREAM_CONFIG,
  LITESTREAM_MARKER,
  LITESTREAM_UNIT,
  LITESTREAM_UNIT_PATH,
  litestreamConfig,
  validateLitestream,
} from "./lib/backup/litestream.ts";
export { ACME_ROOT, CERTS_DIR, domainsForHost, SERVER_CA_BUNDLE } from "./lib/certs/plan.ts";
export { certsProbe, httpsModuleParts, httpsStep } from "./lib/certs/https.ts";
export { fetchTailnetCertificate, statusProbe } from "./lib/certs/tailnet.ts";
