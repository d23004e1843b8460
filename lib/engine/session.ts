/**
 * A run's shared set-up: the config, the environment and its hosts, the
 * modules, secrets, the UI, and executors with one private folder for the
 * ssh control sockets (removed when the run ends).
 */
import { loadEnvironment, loadProject } from "../config/load.ts";
import { checkDeployFilesPlaces, listDeployFiles } from "../config/deploy_files.ts";
import type { EnvironmentConfig, HostConfig, ProjectConfig } from "../config/types.ts";
import { UsageError } from "../errors.ts";
import type { Executor } from "../exec/executor.ts";
import { Limiter } from "../exec/limiter.ts";
import { loadModules } from "./module_loader.ts";
import type { ModuleDefinition } from "./module_api.ts";
import { RecordingExecutor } from "../exec/recording_executor.ts";
import { secretRefsOf, SecretResolver } from "../secrets/resolve.ts";
import { SshExecutor } from "../exec/ssh.ts";
import type { Ui } from "../output/ui.ts";
import { hostList } from "../cli/args.ts";
import { join } from "../paths.ts";
import type { Secret } from "../secrets/secret.ts";
import { type Interrupt, NO_INTERRUPT } from "../cli/interrupt.ts";

/** sshd's MaxStartups starts refusing at 10 unauthenticated connections. */
const MAX_CONNECTION_STARTS = 8;

export interface Session {
  readonly ui: Ui;
  readonly project: ProjectConfig;
  readonly env: EnvironmentConfig;
  readonly hosts: readonly HostConfig[];
  readonly modules: (host: HostConfig) => Promise<ModuleDefinition[]>;
  readonly secrets: SecretResolver;
  readonly appEnv: Map<string, ReadonlyMap<string, string | Secret>>;
  readonly deployFiles: ReadonlySet<string>;
  readonly deployFilesDir?: string;
  readonly dryRun: boolean;
  readonly parallel: number;
  /** Aborted at a second SIGINT/SIGTERM: running ssh and rsync processes end (steps' ctx.signal). */
  readonly signal: AbortSignal;
  /** Aborted at the first: no new step starts (lib/cli/interrupt.ts). */
  readonly stop: AbortSignal;
  executor(host: HostConfig, index: number): Executor;
  close(): Promise<void>;
}

/**
 * The flags a session reads, typed as the commands define them (lib/commands/common.ts):
 * a command's parsed flags fit, with or without each of them.
 */
export interface SessionFlags {
  readonly config?: string;
  readonly env?: string;
  readonly host?: string;
  readonly hosts?: string;
  readonly parallel?: number;
  readonly "dry-run"?: true;
}

export async function loadConfig(flags: SessionFlags): Promise<ProjectConfig> {
  return await loadProject({ configPath: flags.config });
}

export function requireEnv(flags: SessionFlags, command: string): string {
  const env = flags.env;
  if (!env) {
    throw new UsageError(`djaploy ${command} needs --env NAME: which environment to act on`);
  }
  return env;
}

/** `--host` (one) or `--hosts` (a list), whichever the command has; undefined: all. */
export function wantedHosts(flags: SessionFlags): string[] | undefined {
  const flag = flags.host !== undefined ? "host" : "hosts";
  const list = flags[flag];
  if (list === undefined) return undefined;
  const names = hostList(list, flag);
  if (flag === "host" && names.length !== 1) {
    throw new UsageError(`--host takes one host name: got "${list}"`, {
      hint: "djaploy exec --hosts A,B runs on several hosts",
    });
  }
  return names;
}

/** The config, and the environment `--env` names with the hosts --host/--hosts keep. */
export async function loadTarget(
  flags: SessionFlags,
  command: string,
): Promise<{ project: ProjectConfig; env: EnvironmentConfig }> {
  const project = await loadConfig(flags);
  const envName = requireEnv(flags, command);
  const env = await loadEnvironment(project, envName, { hosts: wantedHosts(flags) });
  return { project, env };
}

/**
 * ssh executors that share one private folder for their control sockets
 * (removed by close) and one limit on connections starting at once.
 */
export interface Connections {
  ssh(host: HostConfig, socketName: string): SshExecutor;
  close(): Promise<void>;
}

export async function openConnections(
  opts: { readonly signal: AbortSignal; readonly warn: (message: string) => void },
): Promise<Connections> {
  const controlDir = await Deno.makeTempDir({ dir: await shortTmp(), prefix: "djaploy-" });
  await Deno.chmod(controlDir, 0o700);
  const startLimiter = new Limiter(MAX_CONNECTION_STARTS);
  const opened: SshExecutor[] = [];
  return {
    ssh(host, socketName) {
      const exec = new SshExecutor(host, {
        controlDir,
        socketName,
        startLimiter,
        signal: opts.signal,
        warn: opts.warn,
      });
      opened.push(exec);
      return exec;
    },
    async close() {
      await Promise.all(opened.map((e) => e.close()));
      await Deno.remove(controlDir, { recursive: true }).catch(() => undefined);
    },
  };
}

export async function openSession(
  ui: Ui,
  flags: SessionFlags,
  command: string,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<Session> {
  const { project, env } = await loadTarget(flags, command);
  const files = await listDeployFiles(project.infra_dir, env.name);
  for (const host of env.hosts) checkDeployFilesPlaces(files, host);
  const secrets = new SecretResolver({
    onSecret: (v) => ui.addSecret(v),
    baseDir: project.repo_dir,
  });
  // One 1Password call for every op:// reference of the run.
  await secrets.preload(secretRefsOf(project, env.hosts, { notifications: command === "deploy" }));
  const appEnv = new Map<string, ReadonlyMap<string, string | Secret>>();
  for (const host of env.hosts) appEnv.set(host.name, await secrets.appEnv(host));
  const moduleCache = new Map<string, Promise<ModuleDefinition[]>>();
  // Load every host's modules now: a bad module is a config error before any connection.
  for (const host of env.hosts) {
    const key = JSON.stringify(host.modules);
    if (!moduleCache.has(key)) moduleCache.set(key, loadModules(host.modules, project.repo_dir));
    await moduleCache.get(key);
  }
  const connections = await openConnections({
    signal: interrupt.force,
    warn: (m) => ui.warn(m),
  });
  const dryRun = Boolean(flags["dry-run"]);
  return {
    ui,
    project,
    env,
    hosts: env.hosts,
    modules: (host) => moduleCache.get(JSON.stringify(host.modules))!,
    secrets,
    appEnv,
    deployFiles: new Set(files.map((f) => f.remotePath)),
    deployFilesDir: files.length ? join(project.infra_dir, "deploy_files", env.name) : undefined,
    dryRun,
    parallel: flags.parallel ?? env.hosts.length,
    signal: interrupt.force,
    stop: interrupt.stop,
    executor(host, index) {
      const ssh = connections.ssh(host, String(index));
      return dryRun
        ? new RecordingExecutor({ host: host.name, sshUser: host.ssh_user, passThrough: ssh })
        : ssh;
    },
    close: () => connections.close(),
  };
}

/** /tmp when it exists: socket paths must stay under ~104 bytes, and $TMPDIR can be long. */
async function shortTmp(): Promise<string | undefined> {
  return await Deno.stat("/tmp").then((s) => (s.isDirectory ? "/tmp" : undefined), () => undefined);
}
