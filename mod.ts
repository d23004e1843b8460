/**
 * djaploy's public API, for module authors and embedders. Importing it has
 * no side effects. (The command line itself is `main` of the `./cli` export.)
 *
 * A module is a set of named steps attached to phases of `configure` and
 * `deploy`, plus what they need on the host: Debian packages, the facts
 * (probes) they compare against, and the files they manage. This one writes
 * a message of the day naming the app; list it by path in djaploy.toml
 * (`modules = ["core", "nginx", "systemd", "./infra/modules/motd.ts"]`).
 * Built-in modules (modules/) are written the same way, against this file
 * only.
 *
 * ```ts
 * import { defineModule, type FactProbe, putFile, shScript } from "@djaploy/djaploy";
 *
 * // A fact: a command and a pure parser of its output, run with every other
 * // probe of the run in one round trip at the start.
 * const release: FactProbe<string> = {
 *   name: "motd:os",
 *   argv: shScript('. /etc/os-release && echo "$PRETTY_NAME"'),
 *   parse: (out) => out.trim(),
 * };
 *
 * const motd = defineModule({
 *   name: "motd",
 *   description: "A message of the day naming the app",
 *   facts: () => [release],
 *   // Files whose hash is read with the facts: putFile writes only on a change.
 *   files: () => ["/etc/motd"],
 *   steps: {
 *     configure: [{
 *       name: "message of the day",
 *       async run(ctx) {
 *         const text = `${ctx.host.app_name} on ${ctx.facts.get(release)}\n`;
 *         await putFile(ctx, { path: "/etc/motd", content: text, mode: "0644" });
 *       },
 *     }],
 *   },
 * });
 * export default motd;
 *
 * // The parser is pure, so it is tested without a host:
 * if (release.parse("Debian GNU/Linux 12 (bookworm)\n", 0) !== "Debian GNU/Linux 12 (bookworm)") {
 *   throw new Error("unexpected parse");
 * }
 * ```
 * @module
 */
export {
  defineModule,
  DEPLOY_FILES_CHANGED,
  DEPLOY_FILES_DIR,
  INSTALLED_PACKAGES,
  note,
  noteValue,
  PHASES,
} from "./lib/engine/module_api.ts";
export type {
  HostLog,
  ModuleDefinition,
  Note,
  NoteValue,
  Phase,
  ReleaseInfo,
  Shared,
  Step,
  StepContext,
} from "./lib/engine/module_api.ts";
export type { FactProbe } from "./lib/host/facts.ts";
export { Facts } from "./lib/host/facts.ts";
export { asApp, asRoot, type FileSpec, putFile, sha256 } from "./lib/host/remote_ops.ts";
export {
  appUnitsProbe,
  archProbe,
  dirsProbe,
  fileProbe,
  linkProbe,
  packagesProbe,
  unitsProbe,
  userProbe,
} from "./lib/host/probes.ts";
export { runChain } from "./lib/exec/chain.ts";
export type { RemoteCommand } from "./lib/exec/remote_command.ts";
export { shScript } from "./lib/exec/remote_command.ts";
export type {
  ChainResult,
  ExecResult,
  Executor,
  ExecutorStats,
  HeldCommand,
  HoldOptions,
  InteractiveOptions,
  SyncOptions,
  SyncResult,
} from "./lib/exec/executor.ts";
export type { Layout, Slot, SlotLayout } from "./lib/host/layout.ts";
export { layoutFor, slotLayout } from "./lib/host/layout.ts";
export { hasSlots } from "./lib/strategies/traits.ts";
export { HOOK_POINTS } from "./lib/config/types.ts";
export type {
  ArtifactConfig,
  BorgConfig,
  BorgEncryption,
  CertDomainConfig,
  CertificatesConfig,
  ChallengeType,
  ChangelogConfig,
  ChangelogGenerator,
  DependenciesConfig,
  DependencyManager,
  DjangoConfig,
  EnvironmentConfig,
  EnvValue,
  GunicornConfig,
  HealthCheckConfig,
  HookCommand,
  HookPoint,
  HooksConfig,
  HostConfig,
  IncrementType,
  IssueOn,
  LitestreamConfig,
  LitestreamReplica,
  ModuleRef,
  NginxConfig,
  NotificationKind,
  NotificationsConfig,
  PrepareConfig,
  ProjectConfig,
  RcloneConfig,
  ReleaseConfig,
  ReplicaType,
  ScheduleEntry,
  Strategy as StrategyName,
  SystemConfig,
  SystemdConfig,
  TailscaleConfig,
  TailscaleInstall,
  VersioningConfig,
} from "./lib/config/types.ts";
export type { MaxFail } from "./lib/config/max_fail.ts";
export { isSecretRef, REDACTED, Secret, type SecretRef } from "./lib/secrets/secret.ts";
export { CommandError, ConfigError, UsageError, UserError } from "./lib/errors.ts";
export { type Dialect, quote, render } from "./lib/shell.ts";
/** Paths on the servers (POSIX, as node:path's `posix`, quicker on paths already normal). */
export * as remotePath from "./lib/remote_path.ts";

// What the built-in modules share; a module of your own may use it the same way.
export { configSecret } from "./lib/backup/secrets.ts";
export {
  CHECK_SHA256_SH,
  downloadVerified,
  fillUrl,
  goArch,
  shipVerified,
  type VerifiedFile,
} from "./lib/host/verified_download.ts";
export {
  bootConfinement,
  certbotConfinement,
  litestreamConfinement,
  webConfinement,
} from "./lib/host/confinement.ts";
export { testAndReload } from "./lib/host/nginx.ts";
export { stateProbe } from "./lib/deploy/steps.ts";
export { liveProcessTarget } from "./lib/deploy/live_target.ts";
export { processUnitFiles, processUnitsProbe, syncProcessUnits } from "./lib/deploy/processes.ts";
export {
  configuredManager,
  indexFiles,
  managerTool,
  toolsProbe,
} from "./lib/deploy/dependencies.ts";
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
export type { BackupBackend } from "./lib/backup/databases.ts";
export type { BackupLayout } from "./lib/backup/layout.ts";
export type { CertsState } from "./lib/certs/https.ts";
export type { TailscaleState } from "./lib/certs/tailnet.ts";
export type { DomainPlan } from "./lib/certs/plan.ts";
export { type Confinement, type Protection, PROTECTIONS } from "./templates/hardening.ts";
export type { DeployState, ReleaseRecord, SlotRecord } from "./lib/deploy/steps.ts";
export type { ManagerTool } from "./lib/deploy/dependencies.ts";
export type { ProcessSync, ProcessTarget } from "./lib/deploy/processes.ts";
