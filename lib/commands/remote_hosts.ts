/**
 * Connections for the day-2 commands (manage, exec, logs, ssh, maintenance):
 * the environment's hosts and an ssh executor for each. Unlike a deploy
 * session it resolves no secrets (the server's env file already holds them)
 * and loads no modules, so `djaploy ssh` works without `op` or the env vars
 * a deploy needs. Ctrl-C or SIGTERM ends the remote commands it started and
 * lets the command return, so connections are closed on the way out.
 */
import type { FlagDef, Flags } from "../cli/args.ts";
import type { EnvironmentConfig, HostConfig, ProjectConfig } from "../config/types.ts";
import type { Executor, InteractiveOptions } from "../exec/executor.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import type { Ui } from "../output/ui.ts";
import { loadTarget, openConnections } from "../engine/session.ts";
import { gatherFacts } from "../host/facts.ts";
import { type DeployState, stateProbe } from "../deploy/steps.ts";
import { layoutFor } from "../host/layout.ts";

/** `--host NAME`: the one host of a single-host command. */
export const HOST_FLAG: FlagDef = {
  name: "host",
  type: "string",
  valueName: "NAME",
  description: "The host to use (default: the environment's first host)",
};

export interface RemoteHosts {
  readonly project: ProjectConfig;
  readonly env: EnvironmentConfig;
  readonly hosts: readonly HostConfig[];
  /** Aborted on SIGINT/SIGTERM: running ssh processes are ended. */
  readonly signal: AbortSignal;
  executor(host: HostConfig): Executor;
  close(): Promise<void>;
}

export interface OpenHostsOptions {
  /** Keep one host: `--host`, or else the first (with a note when there are more). */
  readonly single?: boolean;
}

const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

export async function openHosts(
  ui: Ui,
  flags: Flags,
  command: string,
  opts: OpenHostsOptions = {},
): Promise<RemoteHosts> {
  const { project, env } = await loadTarget(flags, command);
  let hosts = env.hosts;
  if (opts.single && hosts.length > 1) {
    ui.warn(
      `${command} runs on ${hosts[0].name}, the first of ${hosts.length} hosts in ${env.name} ` +
        `(--host chooses another)`,
    );
    hosts = hosts.slice(0, 1);
  }
  const abort = new AbortController();
  const connections = await openConnections({ signal: abort.signal, warn: (m) => ui.warn(m) });
  const onSignal = () => abort.abort();
  for (const s of SIGNALS) Deno.addSignalListener(s, onSignal);
  return {
    project,
    env,
    hosts,
    signal: abort.signal,
    executor: (host) => connections.ssh(host, String(env.hosts.indexOf(host))),
    async close() {
      for (const s of SIGNALS) Deno.removeSignalListener(s, onSignal);
      await connections.close();
    },
  };
}

/** The host's deploy state (root's state.json), read in one round trip. */
export async function readState(
  exec: Executor,
  host: HostConfig,
): Promise<DeployState | undefined> {
  const probe = stateProbe(layoutFor(host));
  const facts = await gatherFacts(exec, [probe], []);
  return facts.get(probe);
}

/** Runs `fn` for every host at once; a host that throws does not stop the others. */
export async function eachHost<T>(
  hosts: readonly HostConfig[],
  fn: (host: HostConfig) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  return await Promise.allSettled(hosts.map((h) => fn(h)));
}

/** Runs a command attached to the terminal; every executor djaploy runs commands with has this. */
export async function interactive(
  exec: Executor,
  cmd: RemoteCommand,
  opts: InteractiveOptions = {},
): Promise<number> {
  if (!exec.interactive) {
    throw new Error(`The executor for ${exec.host} cannot run interactive commands`);
  }
  return await exec.interactive(cmd, opts);
}

/** Whether to ask for a terminal on the host: only when ours is one. */
export function stdinIsTerminal(): boolean {
  return Deno.stdin.isTerminal();
}
