/**
 * What a step asks a host to run: an argv array plus who runs it, where, and
 * with what input. `toShell` turns it into the one string ssh sends.
 */
import { render } from "../shell.ts";
import type { Secret } from "../secrets/secret.ts";

/**
 * A command for a host: argv plus who runs it, where, with what input and which exit codes pass.
 */
export interface RemoteCommand {
  /** The program and its arguments; quoted in exactly one place (`render`). */
  readonly argv: readonly string[];
  /** Run as this user through `sudo -n` ("root", or the app user). Default: the ssh user. */
  readonly as?: string;
  /** Working directory on the host. */
  readonly cwd?: string;
  /** Environment for the command. Visible in the process list: never put secrets here. */
  readonly env?: Readonly<Record<string, string>>;
  /** Input on stdin: the way secrets reach a host. */
  readonly stdin?: string | Secret;
  /** Reads only: safe to run during --dry-run. */
  readonly readOnly?: boolean;
  /** Exit codes that count as success (default [0]). */
  readonly okCodes?: readonly number[];
}

/**
 * A command a builder returns with what it changes on the host: the builder
 * stays pure, and whoever runs it reports the change once it ran
 * (reportChanges).
 */
export interface PlannedCommand {
  readonly command: RemoteCommand;
  /** For the run's report, e.g. "stopping hello-green.service". */
  readonly change?: string;
}

/** The commands of `planned`, in order. */
export function commandsOf(planned: readonly PlannedCommand[]): RemoteCommand[] {
  return planned.map((p) => p.command);
}

/** The argv the ssh user's shell runs on the host (sudo, cwd and env applied). */
export function wrapArgv(cmd: RemoteCommand, sshUser: string): string[] {
  const prefix: string[] = [];
  if (cmd.as && cmd.as !== sshUser) {
    prefix.push("sudo", "-n", "-H");
    if (cmd.as !== "root") prefix.push("-u", cmd.as);
    prefix.push("--");
  }
  if (cmd.cwd || (cmd.env && Object.keys(cmd.env).length > 0)) {
    prefix.push("env");
    if (cmd.cwd) prefix.push("-C", cmd.cwd);
    for (const [k, v] of Object.entries(cmd.env ?? {})) prefix.push(`${k}=${v}`);
  }
  return [...prefix, ...cmd.argv];
}

/** The shell text ssh sends for this command. */
export function toShell(cmd: RemoteCommand, sshUser: string): string {
  return render(wrapArgv(cmd, sshUser));
}

/** `sh -c SCRIPT sh ARG...`: a constant script that takes its values as positional arguments. */
export function shScript(script: string, ...args: string[]): string[] {
  return ["sh", "-c", script, "sh", ...args];
}
