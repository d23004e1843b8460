/**
 * The ssh face of the executor: system OpenSSH with one multiplexed
 * connection (ControlMaster) per host per run, and rsync over that same
 * connection.
 *
 * Traps this file avoids, each seen in other tools:
 * - ControlPath past the ~104-byte socket limit: sockets live in a short
 *   private directory (/tmp/djaploy-XXXX/<n>).
 * - A prompt for an unknown host key hanging the run: BatchMode, and
 *   StrictHostKeyChecking=accept-new (or yes).
 * - Masters left behind or reused across runs: each run has its own socket
 *   directory. The deploy lock's shell is its connection's master and ends
 *   it when it ends (its input closes when djaploy is gone, killed too).
 *   Other masters are closed at the end (through the control socket,
 *   lib/exec/ssh_mux.ts), and ControlPersist makes an orphaned one exit by
 *   itself if djaploy is killed.
 * - A burst of new connections refused by sshd's MaxStartups: connection
 *   starts go through a shared limiter.
 * - Ctrl-C killing a remote command halfway: ssh and rsync run in their own
 *   session (detached), so only djaploy gets the terminal's SIGINT and stops
 *   between steps (lib/cli/interrupt.ts); interactive commands keep the terminal.
 * - Multiplexing silently lost, every command becoming a full login: the
 *   socket is checked before each command and a fallback is reported.
 */
import type { HostConfig } from "../config/types.ts";
import { CommandError, UserError } from "../errors.ts";
import type {
  ExecResult,
  Executor,
  ExecutorStats,
  HeldCommand,
  HoldOptions,
  InteractiveOptions,
  SyncOptions,
  SyncResult,
} from "./executor.ts";
import { checkResult, newStats, parseBytesSent, parseItemized } from "./executor.ts";
import { ProgramNotFoundError, runProcess, startProcess } from "./process.ts";
import type { RemoteCommand } from "./remote_command.ts";
import { toShell } from "./remote_command.ts";
import { quote, render } from "../shell.ts";
import type { Limiter } from "./limiter.ts";
import { exitMaster } from "./ssh_mux.ts";
import { join } from "node:path";

/** Seconds an idle master lives on after djaploy is gone (a safety net; we close it ourselves). */
const CONTROL_PERSIST = 120;
/** sshd's MaxSessions is 10 by default: stay below it on one connection. */
const MAX_SESSIONS = 8;

export interface SshOptions {
  /** A private (0700) directory for control sockets, shared by the run. */
  readonly controlDir: string;
  /** A short unique name for this host's socket within controlDir. */
  readonly socketName: string;
  /** Caps concurrent connection starts across hosts. */
  readonly startLimiter: Limiter;
  readonly signal?: AbortSignal;
  /** Called with a warning worth showing (e.g. multiplexing lost). */
  readonly warn?: (message: string) => void;
}

export class SshExecutor implements Executor {
  readonly host: string;
  readonly sshUser: string;
  readonly stats: ExecutorStats = newStats();
  readonly lockShellRuns = true;
  readonly #config: HostConfig;
  readonly #opts: SshOptions;
  readonly #controlPath: string;
  /** The master's start, shared by every caller (a deploy connects early, while it builds). */
  #connecting?: Promise<void>;
  #sessions = 0;
  #waiting: (() => void)[] = [];
  /** rsync runs so far: each one's output files have their own name. */
  #syncs = 0;

  constructor(config: HostConfig, opts: SshOptions) {
    this.host = config.name;
    this.sshUser = config.ssh_user;
    this.#config = config;
    this.#opts = opts;
    this.#controlPath = join(opts.controlDir, opts.socketName);
  }

  /** Options for every ssh invocation of this host (also rsync's -e). */
  baseArgs(): string[] {
    return [...sshPolicyArgs(this.#config), "-o", `ControlPath=${this.#controlPath}`];
  }

  /** A client of the running master (never a master itself); `extra` goes before the host. */
  #clientArgs(extra: readonly string[] = []): string[] {
    return [...this.baseArgs(), "-o", "ControlMaster=no", ...extra];
  }

  /** The ssh argv that runs `cmd` on the host through the master. */
  #commandArgs(cmd: RemoteCommand): string[] {
    return [...this.#clientArgs(), this.#config.ssh_hostname, "--", toShell(cmd, this.sshUser)];
  }

  /** Starts the master once; every caller shares its outcome, a failure included. */
  connect(): Promise<void> {
    this.#connecting ??= this.#opts.startLimiter.run(() => this.#startMaster());
    return this.#connecting;
  }

  async #startMaster(): Promise<void> {
    const log = `${this.#controlPath}.log`;
    const args = [
      ...this.baseArgs(),
      "-M",
      "-N",
      "-f",
      "-o",
      `ControlPersist=${CONTROL_PERSIST}`,
      "-E",
      log,
      this.#config.ssh_hostname,
    ];
    let result;
    try {
      // quiet: the backgrounded master would otherwise hold our pipes open.
      result = await runProcess("ssh", args, {
        quiet: true,
        signal: this.#opts.signal,
        detached: true,
      });
    } catch (err) {
      if (err instanceof ProgramNotFoundError) throw sshMissing();
      throw err;
    }
    this.stats.connections++;
    if (result.code !== 0) {
      const stderr = await Deno.readTextFile(log).catch(() => "");
      throw connectError(this.#config, result.code, stderr);
    }
  }

  async run(cmd: RemoteCommand): Promise<ExecResult> {
    await this.connect();
    await this.#acquireSession();
    try {
      await this.#checkMaster();
      this.stats.commands++;
      const stdin = cmd.stdin === undefined
        ? undefined
        : typeof cmd.stdin === "string"
        ? cmd.stdin
        : cmd.stdin.reveal();
      const result = await runProcess("ssh", this.#commandArgs(cmd), {
        stdin,
        signal: this.#opts.signal,
        detached: true,
      });
      this.#noticeFallback(result.stderr);
      if (result.code === 255) throw connectError(this.#config, 255, result.stderr);
      return checkResult(this.host, this.sshUser, cmd, result);
    } finally {
      this.#releaseSession();
    }
  }

  /**
   * Starts `cmd` and keeps it running. A command that answers at once (a
   * run's deploy lock) opens the connection itself when none is open: one ssh
   * process that logs in, runs the command and is the master of the host's
   * connection while it runs (ControlMaster, no ControlPersist), instead of a
   * master started and waited for, then a client. The connection counts as
   * made at the command's first line, or when it ended other than with ssh's
   * 255. `connect()` called right after shares that outcome. Ending the
   * command ends the connection: close() then has nothing left to close.
   */
  async hold(cmd: RemoteCommand, opts: HoldOptions = {}): Promise<HeldCommand> {
    // Only such a command: the connection start it holds ends at its first line.
    if (this.#connecting === undefined && opts.answersAtOnce) return await this.#holdAsMaster(cmd);
    await this.connect();
    await this.#checkMaster();
    this.stats.commands++;
    const p = startProcess("ssh", this.#commandArgs(cmd), {
      signal: this.#opts.signal,
      detached: true,
    });
    return { readLine: () => p.readLine(), write: (t) => p.write(t), end: (o) => p.close(o) };
  }

  #holdAsMaster(cmd: RemoteCommand): Promise<HeldCommand> {
    const log = `${this.#controlPath}.log`;
    const args = [
      ...this.baseArgs(),
      ...["-o", "ControlMaster=yes", "-E", log],
      this.#config.ssh_hostname,
      "--",
      // The command's stderr comes on its stdout: ssh's own messages go to the log (-E), so ssh
      // runs with no stderr pipe, one pipe and one stream less per host. Such a command answers
      // in lines that its reader knows (the deploy lock's), and whatever else it says before
      // them (sudo's refusal) ends up in its output.
      holdLine(cmd, this.sshUser),
    ];
    // Set before any await: a connect() right after this call shares the start.
    const started = this.#opts.startLimiter.run(async () => {
      const p = startProcess("ssh", args, {
        signal: this.#opts.signal,
        detached: true,
        stderr: "null",
      });
      this.stats.connections++;
      this.stats.commands++;
      const first = await p.readLine();
      if (first !== undefined) return { p, first, ended: undefined };
      const ended = await p.close();
      if (ended.code === 255) {
        const stderr = await Deno.readTextFile(log).catch(() => ended.stdout);
        throw connectError(this.#config, 255, stderr);
      }
      return { p, first, ended };
    }).catch((err) => {
      if (err instanceof ProgramNotFoundError) throw sshMissing();
      throw err;
    });
    const connecting = this.#connecting = started.then(() => undefined);
    connecting.catch(() => undefined); // reported by whoever awaits it
    return started.then(({ p, first, ended }) => {
      let unread = first;
      return {
        readLine: () => {
          if (unread === undefined) return ended ? Promise.resolve(undefined) : p.readLine();
          const line = unread;
          unread = undefined;
          return Promise.resolve(line);
        },
        write: (t) => ended ? Promise.resolve() : p.write(t),
        end: async (o) => {
          const result = ended ?? await p.close(o);
          // The master ended with it (once its other sessions, if any, had ended): the
          // connection is closed, by us, and a later command opens a new one.
          if (this.#connecting === connecting) this.#connecting = undefined;
          return result;
        },
      };
    });
  }

  async interactive(cmd: RemoteCommand, opts: InteractiveOptions = {}): Promise<number> {
    await this.connect();
    await this.#checkMaster();
    this.stats.commands++;
    // LogLevel=ERROR: no "Connection to ... closed." after a terminal session.
    const args = this.#clientArgs(["-o", "LogLevel=ERROR"]);
    if (opts.tty) args.push("-t");
    args.push(this.#config.ssh_hostname);
    if (cmd.argv.length > 0) args.push("--", toShell(cmd, this.sshUser));
    const result = await runProcess("ssh", args, { inherit: true, signal: this.#opts.signal });
    return result.code;
  }

  async sync(opts: SyncOptions): Promise<SyncResult> {
    await this.connect();
    await this.#acquireSession();
    try {
      await this.#checkMaster();
      this.stats.syncs++;
      const args = rsyncArgs(opts, rsyncRsh(["ssh", ...this.#clientArgs()]));
      args.push(
        `${opts.source.replace(/\/+$/, "")}/`,
        rsyncDestination(this.#config.ssh_hostname, `${opts.dest}/`),
      );
      let result;
      try {
        result = await runProcess("rsync", args, {
          signal: this.#opts.signal,
          detached: true,
          // Its output in this run's private folder, next to the host's socket: read at its end.
          outputFile: `${this.#controlPath}.rsync${++this.#syncs}`,
        });
      } catch (err) {
        if (err instanceof ProgramNotFoundError) {
          throw new UserError("Install rsync on this machine: the rsync program is not on PATH");
        }
        throw err;
      }
      this.#noticeFallback(result.stderr);
      if (result.code !== 0) {
        throw new CommandError({
          host: this.host,
          command: `rsync ${opts.source}/ -> ${opts.dest}/`,
          code: result.code,
          stderr: result.stderr,
          hint: /command not found|rsync: not found|rsync: No such file or directory$/m.test(
              result.stderr,
            )
            ? "Is rsync installed on the server? `djaploy configure` installs it."
            : undefined,
        });
      }
      this.stats.bytesSent += parseBytesSent(result.stdout);
      return { changed: parseItemized(result.stdout) };
    } finally {
      this.#releaseSession();
    }
  }

  async close(): Promise<void> {
    const connecting = this.#connecting;
    if (!connecting) return;
    this.#connecting = undefined;
    if (!await connecting.then(() => true, () => false)) return;
    // Through the control socket (lib/exec/ssh_mux.ts); `ssh -O exit` where djaploy may not open it.
    if (await exitMaster(this.#controlPath) !== "unavailable") return;
    await runProcess("ssh", [...this.baseArgs(), "-O", "exit", this.#config.ssh_hostname], {
      quiet: true,
    }).catch(() => undefined);
  }

  async #checkMaster(): Promise<void> {
    try {
      // Sync: a local socket's lstat is quick, and no thread pool hop per command.
      Deno.lstatSync(this.#controlPath);
    } catch {
      this.#opts.warn?.(
        `${this.host}: the shared SSH connection was lost; opening a new one (each reconnect is a full login)`,
      );
      this.#connecting = undefined;
      await this.connect();
    }
  }

  #noticeFallback(stderr: string): void {
    const warning = fallbackWarning(this.host, stderr);
    if (warning) {
      this.stats.connections++;
      this.#opts.warn?.(warning);
    }
  }

  async #acquireSession(): Promise<void> {
    if (this.#sessions < MAX_SESSIONS) {
      this.#sessions++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #releaseSession(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#sessions--;
  }
}

/**
 * The command line of a command that opens its host's connection (the deploy lock's), by the
 * command and the ssh user. A run's hosts share one such command, the same object
 * (lib/host/deploy_lock.ts): its 15 kB line is quoted and joined once, not for each host.
 */
const holdLines = new WeakMap<RemoteCommand, Map<string, string>>();

function holdLine(cmd: RemoteCommand, sshUser: string): string {
  let bySshUser = holdLines.get(cmd);
  if (!bySshUser) holdLines.set(cmd, bySshUser = new Map());
  let line = bySshUser.get(sshUser);
  if (line === undefined) {
    line = `exec 2>&1; ${toShell(cmd, sshUser)}`;
    bySshUser.set(sshUser, line);
  }
  return line;
}

/**
 * What to tell people when ssh left the shared connection and logged in
 * again (its stderr says so), or undefined. Only sshd refusing the session
 * points at MaxSessions; a connection that broke (the network, sshd gone)
 * says what ssh said instead.
 */
export function fallbackWarning(host: string, stderr: string): string | undefined {
  if (!/mux_client|ControlSocket .* already exists|disabling multiplexing/.test(stderr)) {
    return undefined;
  }
  if (/Session open refused by peer|administratively prohibited/i.test(stderr)) {
    return `${host}: sshd refused a session on the shared connection, so ssh logged in again; ` +
      `check MaxSessions in the server's sshd_config`;
  }
  const said = stderr.split("\n").map((l) => l.trim()).find((l) =>
    /mux_client|ControlSocket|multiplexing/.test(l)
  );
  return `${host}: the shared SSH connection broke, so ssh logged in again (ssh said: ${said})`;
}

/**
 * The ssh options for a host, without the control socket: user options first
 * (ssh takes the first value of each option), then djaploy's own. A
 * `ProxyJump` option becomes a ProxyCommand that runs ssh with these same
 * options (key, known_hosts, host-key policy, BatchMode): ssh's own ProxyJump
 * passes none of them to the jump connection.
 */
export function sshPolicyArgs(c: HostConfig): string[] {
  const jump = (c.ssh_options ?? []).find(isProxyJump)?.slice("ProxyJump=".length);
  const args = jump === undefined || jump === "none"
    ? []
    : ["-o", `ProxyCommand=${proxyCommand(c, jump.split(","))}`];
  args.push(...connectionOptions(c), "-l", c.ssh_user);
  if (c.ssh_port) args.push("-p", String(c.ssh_port));
  return args;
}

const isProxyJump = (option: string) => /^proxyjump=/i.test(option);

/** What every connection of a host gets, the jump host's included: all but user, port and jump. */
function connectionOptions(c: HostConfig): string[] {
  return [
    // First: for each option, ssh takes the first value it is given (ConnectTimeout=30 wins).
    ...(c.ssh_options ?? []).filter((o) => !isProxyJump(o)).flatMap((o) => ["-o", o]),
    ...sshTrustArgs({
      strict: c.strict_host_key_checking,
      knownHostsFile: c.known_hosts_file,
      key: c.ssh_key,
    }),
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
    // The server never gets to use the keys in this machine's ssh-agent.
    "-o",
    "ForwardAgent=no",
  ];
}

/**
 * Never a prompt, the host-key policy (a new host accepted once, or only
 * known ones), a known_hosts file and only the given key: what djaploy's own
 * connections and the borg client it runs here (BORG_RSH) both use.
 */
export function sshTrustArgs(
  o: { readonly strict?: boolean; readonly knownHostsFile?: string; readonly key?: string },
): string[] {
  const args = [
    "-o",
    "BatchMode=yes",
    "-o",
    `StrictHostKeyChecking=${o.strict ? "yes" : "accept-new"}`,
  ];
  if (o.knownHostsFile) args.push("-o", `UserKnownHostsFile=${o.knownHostsFile}`);
  if (o.key) args.push("-i", o.key, "-o", "IdentitiesOnly=yes");
  return args;
}

/** A ProxyCommand that reaches `%h:%p` through `hops` (the last hop next to the host). */
function proxyCommand(c: HostConfig, hops: readonly string[]): string {
  const hop = parseHop(hops[hops.length - 1]);
  const argv = [
    "ssh",
    ...connectionOptions(c),
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    // The hop's own user and port come from the hop, or else from ~/.ssh/config.
    ...(hop.user ? ["-l", hop.user] : []),
    ...(hop.port ? ["-p", hop.port] : []),
  ];
  if (hops.length > 1) {
    argv.push("-o", `ProxyCommand=${proxyCommand(c, hops.slice(0, -1))}`);
  }
  // ssh expands %-tokens in a ProxyCommand: what we write literally is escaped.
  return `${render(argv).replaceAll("%", "%%")} -W ${quote("[%h]:%p")} ${quote(hop.host)}`;
}

function parseHop(hop: string): { user?: string; host: string; port?: string } {
  const m = hop.replace(/^ssh:\/\//, "").match(/^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/);
  if (!m) throw new UserError(`Fix ProxyJump: cannot read the hop ${JSON.stringify(hop)}`);
  return { user: m[1], host: m[2].replace(/^\[(.*)\]$/, "$1"), port: m[3] };
}

/** rsync's `-e`: rsync splits it itself, with its own quoting (lib/shell.ts, "rsync" dialect). */
export function rsyncRsh(argv: readonly string[]): string {
  return render(argv, "rsync");
}

/** `host:path` for rsync; an IPv6 literal goes in brackets (`[::1]:path`). */
export function rsyncDestination(hostname: string, path: string): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${path}`;
}

/** rsync's arguments for a sync, before source and destination. */
export function rsyncArgs(opts: SyncOptions, rsh: string): string[] {
  // -c: compare contents, so a fresh artifact whose files carry new times
  // sends and touches only what really changed.
  const args = ["-rlc", "--itemize-changes", "--stats", "-e", rsh];
  // Never -p: it would re-apply local directory modes to /etc and friends.
  if (!opts.keepServerModes) args.push("--chmod=ugo=rwX,go-w");
  if (opts.delete) args.push("--delete");
  if (opts.linkDest) args.push(`--link-dest=${opts.linkDest}`);
  for (const f of opts.filters ?? []) args.push(`--filter=${f}`);
  if (opts.as) {
    const sudo = opts.as === "root" ? ["sudo", "-n"] : ["sudo", "-n", "-u", opts.as];
    args.push(`--rsync-path=${render([...sudo, "rsync"])}`);
  }
  return args;
}

function sshMissing(): UserError {
  return new UserError("Install OpenSSH's client: the ssh program is not on PATH");
}

function connectError(c: HostConfig, code: number, stderr: string): UserError {
  const where = `${c.ssh_user}@${c.ssh_hostname}${c.ssh_port ? `:${c.ssh_port}` : ""}`;
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/.test(stderr)) {
    return new UserError(
      `Refusing to connect to ${c.name} (${where}): its host key does not match the one in known_hosts`,
      {
        hint: /CHANGED/.test(stderr)
          ? `If the server was reinstalled, remove the old key with: ssh-keygen -R ${c.ssh_hostname}`
          : "With strict_host_key_checking = true the host key must already be in known_hosts.",
      },
    );
  }
  if (/Permission denied/.test(stderr)) {
    return new UserError(`Cannot log in to ${c.name} (${where}): permission denied (publickey)`, {
      hint: "Check ssh_user and ssh_key for this host, or your ssh-agent.",
    });
  }
  const reason = stderr.trim().split("\n").filter(Boolean).pop() ?? `ssh exited with ${code}`;
  const jump = (c.ssh_options ?? []).find(isProxyJump)?.slice("ProxyJump=".length);
  return new UserError(
    `Cannot connect to ${c.name} (${where}): ${reason.replace(/^ssh: /, "")}`,
    jump && jump !== "none"
      ? {
        hint: `The connection goes through the jump host ${jump}: it must answer and accept ` +
          "the same key (ssh_key), and its host key is checked against the same known_hosts_file.",
      }
      : undefined,
  );
}
