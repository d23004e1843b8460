/**
 * How steps reach a host. Three faces share one interface: ssh (a real
 * server), local (this machine) and recording (tests and --dry-run, which
 * show exactly what a real run would send).
 */
import { CommandError } from "../errors.ts";
import type { RemoteCommand } from "./remote_command.ts";
import { toShell } from "./remote_command.ts";

/** What a command on a host returned. */
export interface ExecResult {
  /** The exit code. */
  readonly code: number;
  /** Standard output, as text. */
  readonly stdout: string;
  /** Standard error, as text. */
  readonly stderr: string;
  /** How long it took, in milliseconds. */
  readonly ms: number;
}

/** What an rsync to the host copies, and how. */
export interface SyncOptions {
  /** A local directory; its contents are copied into `dest`. */
  readonly source: string;
  /** The remote directory. */
  readonly dest: string;
  /** Remote user that owns the files (rsync runs as this user through sudo). */
  readonly as?: string;
  /** Remove remote files that are not in the source. */
  readonly delete?: boolean;
  /** Hard-link unchanged files from this remote directory (a new release from the previous one). */
  readonly linkDest?: string;
  /** rsync filter rules, e.g. "P .venv" to protect a path from --delete. */
  readonly filters?: readonly string[];
  /**
   * Leave modes to the server (deploy_files into /): existing files and
   * directories keep theirs, new files take the source's mode less the umask.
   * Otherwise files are made 0644/0755 (code).
   */
  readonly keepServerModes?: boolean;
  /** Changes nothing on the host (`rsync --dry-run`): lists what would change. */
  readonly readOnly?: boolean;
}

/** What an rsync changed. */
export interface SyncResult {
  /** Paths (relative to dest) that were created, changed or deleted. */
  readonly changed: readonly string[];
}

/** What an executor did in a run, for `-v` and the benchmarks. */
export interface ExecutorStats {
  /** Remote commands run (each one a round trip). */
  commands: number;
  /** rsync transfers (each a few round trips over the same connection). */
  syncs: number;
  /** SSH connections (logins) opened. */
  connections: number;
  /** Bytes rsync sent (file data and protocol). */
  bytesSent: number;
}

/** How steps reach a host: ssh, local, or recording (tests and `--dry-run`). */
export interface Executor {
  /** The host's display name (inventory `name`). */
  readonly host: string;
  /** The user ssh logs in as. */
  readonly sshUser: string;
  /** Counts of what this executor did so far. */
  readonly stats: ExecutorStats;
  /**
   * Whether root and app-user commands may run in the shell that holds the host's
   * deploy lock while it is held (lib/host/deploy_lock.ts, runningUnderLock):
   * on a real host that saves a process and an ssh session per command.
   * Unset where each command must stay its own (recording, tests).
   */
  readonly lockShellRuns?: boolean;
  /** Opens the connection (a no-op where there is none). */
  connect(): Promise<void>;
  /** Runs a command; throws CommandError when its exit code is not in okCodes. */
  run(cmd: RemoteCommand): Promise<ExecResult>;
  /** Copies a local directory to the host. */
  sync(opts: SyncOptions): Promise<SyncResult>;
  /** Starts a command that keeps running while djaploy talks to it (the deploy lock). */
  hold(cmd: RemoteCommand, opts?: HoldOptions): Promise<HeldCommand>;
  /**
   * Runs a command attached to this terminal (stdin, stdout and stderr pass
   * through; a terminal on the host with `tty`) and returns its exit code.
   * An empty argv opens the ssh user's login shell. For manage, ssh and
   * logs -f; optional, so executors made for tests need not have it.
   */
  interactive?(cmd: RemoteCommand, opts?: InteractiveOptions): Promise<number>;
  /**
   * Runs commands in order, stopping at the first failure (see chain.ts).
   * Optional: chain.ts sends one script for executors without it; the
   * recording executor records each command as its own line.
   */
  chain?(cmds: readonly RemoteCommand[]): Promise<ChainResult>;
  /**
   * Runs a command once the host's steps are done, as the last command of the
   * shell that holds its deploy lock (lib/host/deploy_lock.ts, HeldLock.finish):
   * the promise settles when the lock is given back, after the last step, so a
   * step never awaits it. Its output is not kept: the exit code tells. Only
   * where the lock's shell runs commands (runningUnderLock); elsewhere there
   * is none, and `run` it is.
   */
  runAtEnd?(cmd: RemoteCommand): Promise<ExecResult>;
  /** Closes the connection. Safe to call more than once. */
  close(): Promise<void>;
}

/** What a chain of commands returned: the output of all, and which one failed. */
export interface ChainResult extends ExecResult {
  /** The index of the command that failed, if one did (the commands after it did not run). */
  readonly failed?: number;
  /** That command's exit code. */
  readonly failedCode?: number;
}

/** Options of a held command. */
export interface HoldOptions {
  /**
   * Its first line comes as soon as it started (the deploy lock's shell): it
   * may open the host's connection itself, which counts as made at that line.
   */
  readonly answersAtOnce?: boolean;
}

/** Options of an interactive command. */
export interface InteractiveOptions {
  /** Allocate a terminal on the host (ssh -t): when our stdin is a terminal. */
  readonly tty?: boolean;
}

/** A remote command that stays running: read its lines, write to its stdin, end it. */
export interface HeldCommand {
  /** The next line of its output, or undefined when it ended. */
  readLine(): Promise<string | undefined>;
  /** Writes to its standard input. */
  write(text: string): Promise<void>;
  /**
   * Closes its stdin and waits for it to end. With `readRest: false`, what it
   * still prints is not read (nor its stderr): for a command whose output is all read that
   * matters (the deploy lock's, given back). Its output's end and its exit
   * come a few milliseconds apart (ssh closes its stdout, then cleans up),
   * each a wake-up of djaploy; waiting for the exit only saves one per host.
   */
  end(opts?: { readRest?: boolean }): Promise<ExecResult>;
}

export function newStats(): ExecutorStats {
  return { commands: 0, syncs: 0, connections: 0, bytesSent: 0 };
}

/** Throws a CommandError when `result` is not a success for `cmd`. */
export function checkResult(
  host: string,
  sshUser: string,
  cmd: RemoteCommand,
  result: ExecResult,
): ExecResult {
  const ok = cmd.okCodes ?? [0];
  if (!ok.includes(result.code)) {
    throw new CommandError({
      host,
      command: displayCommand(cmd, sshUser),
      code: result.code,
      stderr: result.stderr || result.stdout,
    });
  }
  return result;
}

/** How a command is shown to people: the shell text, long scripts shortened. */
export function displayCommand(cmd: RemoteCommand, sshUser: string): string {
  const text = toShell({ ...cmd, argv: cmd.argv.map(shorten) }, sshUser);
  return cmd.stdin === undefined ? text : `${text} < [stdin]`;
}

function shorten(arg: string): string {
  if (!arg.includes("\n") && arg.length <= 160) return arg;
  const first = arg.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return `${first.slice(0, 60)}…`;
}

/** "Total bytes sent: 1,234" from `rsync --stats`. */
export function parseBytesSent(stdout: string): number {
  const m = /^Total bytes sent: ([\d,.]+)/m.exec(stdout);
  return m ? Number(m[1].replace(/[,.]/g, "")) : 0;
}

/** Parses `rsync --itemize-changes` output into the changed paths. */
export function parseItemized(stdout: string): string[] {
  const changed: string[] = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith("*deleting ")) {
      changed.push(line.slice("*deleting ".length).replace(/^ {0,3}/, ""));
      continue;
    }
    const m = /^([<>ch.*][fdLDS])([^ ]{9,10}) (.+)$/.exec(line);
    if (!m) continue;
    const [, kind, flags, path] = m;
    if (path === "./") continue;
    // ".d..t......" and similar: only attributes of a directory changed.
    if (kind === ".d" || (kind[0] === "." && !/[cs+]/.test(flags))) continue;
    changed.push(path.replace(/ -> .*$/, ""));
  }
  return changed;
}
