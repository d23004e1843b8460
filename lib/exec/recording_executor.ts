/**
 * An executor that records what would run. With `passThrough`, read-only
 * commands (facts) still run on the real host, so a dry run plans against the
 * server's real state and shows exactly the commands a real run would send.
 */
import type {
  ChainResult,
  ExecResult,
  Executor,
  ExecutorStats,
  HeldCommand,
  HoldOptions,
  InteractiveOptions,
  SyncOptions,
  SyncResult,
} from "./executor.ts";
import { checkResult, displayCommand, newStats } from "./executor.ts";
import type { RemoteCommand } from "./remote_command.ts";
import { runChain } from "./chain.ts";

export interface RecordedCommand {
  readonly kind: "run" | "sync";
  /** The command as shown to people (the shell text ssh would send). */
  readonly text: string;
  readonly command?: RemoteCommand;
  readonly sync?: SyncOptions;
}

export type Responder = (cmd: RemoteCommand) => Partial<ExecResult> | undefined;

export interface RecordingOptions {
  readonly host: string;
  readonly sshUser: string;
  /** Answers for commands (tests): return undefined for the default success. */
  readonly respond?: Responder;
  /** A real executor for read-only commands (dry runs). */
  readonly passThrough?: Executor;
  /** What sync reports as changed (tests). */
  readonly syncChanged?: (opts: SyncOptions) => string[];
}

export class RecordingExecutor implements Executor {
  readonly host: string;
  readonly sshUser: string;
  readonly stats: ExecutorStats = newStats();
  readonly recorded: RecordedCommand[] = [];
  readonly #opts: RecordingOptions;

  constructor(opts: RecordingOptions) {
    this.host = opts.host;
    this.sshUser = opts.sshUser;
    this.#opts = opts;
  }

  async connect(): Promise<void> {
    await this.#opts.passThrough?.connect();
  }

  async run(cmd: RemoteCommand): Promise<ExecResult> {
    if (cmd.readOnly && this.#opts.passThrough) return await this.#opts.passThrough.run(cmd);
    this.stats.commands++;
    return checkResult(this.host, this.sshUser, cmd, this.#record(cmd));
  }

  /** A chain is one round trip, recorded as its commands, up to the first that fails. */
  async chain(cmds: readonly RemoteCommand[]): Promise<ChainResult> {
    if (cmds.every((c) => c.readOnly) && this.#opts.passThrough) {
      return await runChain(this.#opts.passThrough, cmds, { check: false });
    }
    this.stats.commands++;
    let stdout = "";
    for (const [i, cmd] of cmds.entries()) {
      const r = this.#record(cmd);
      stdout += r.stdout;
      if (!(cmd.okCodes ?? [0]).includes(r.code)) {
        return { code: 1, stdout, stderr: r.stderr, ms: 0, failed: i, failedCode: r.code };
      }
    }
    return { code: 0, stdout, stderr: "", ms: 0 };
  }

  #record(cmd: RemoteCommand): ExecResult {
    this.recorded.push({ kind: "run", text: displayCommand(cmd, this.sshUser), command: cmd });
    const answer = this.#opts.respond?.(cmd) ?? {};
    return {
      code: answer.code ?? 0,
      stdout: answer.stdout ?? "",
      stderr: answer.stderr ?? "",
      ms: 0,
    };
  }

  async hold(cmd: RemoteCommand, opts?: HoldOptions): Promise<HeldCommand> {
    if (cmd.readOnly && this.#opts.passThrough) {
      return await this.#opts.passThrough.hold(cmd, opts);
    }
    this.stats.commands++;
    this.recorded.push({ kind: "run", text: displayCommand(cmd, this.sshUser), command: cmd });
    const answer = this.#opts.respond?.(cmd) ?? {};
    const lines = (answer.stdout ?? "").split("\n").filter(Boolean);
    const result: ExecResult = {
      code: answer.code ?? 0,
      stdout: "",
      stderr: answer.stderr ?? "",
      ms: 0,
    };
    return {
      readLine: () => Promise.resolve(lines.shift()),
      write: () => Promise.resolve(),
      end: () => Promise.resolve(result),
    };
  }

  interactive(cmd: RemoteCommand, opts: InteractiveOptions = {}): Promise<number> {
    this.stats.commands++;
    const text = cmd.argv.length ? displayCommand(cmd, this.sshUser) : "(login shell)";
    this.recorded.push({
      kind: "run",
      text: `${text}  [interactive${opts.tty ? ", tty" : ""}]`,
      command: cmd,
    });
    return Promise.resolve(this.#opts.respond?.(cmd)?.code ?? 0);
  }

  sync(opts: SyncOptions): Promise<SyncResult> {
    this.stats.syncs++;
    const flags = [
      opts.delete ? "--delete" : "",
      opts.linkDest ? `--link-dest=${opts.linkDest}` : "",
    ]
      .filter(Boolean).join(" ");
    this.recorded.push({
      kind: "sync",
      text: `rsync ${flags ? flags + " " : ""}${opts.source}/ -> ${opts.dest}/` +
        (opts.as ? ` (as ${opts.as})` : ""),
      sync: opts,
    });
    return Promise.resolve({ changed: this.#opts.syncChanged?.(opts) ?? [] });
  }

  async close(): Promise<void> {
    await this.#opts.passThrough?.close();
  }

  /** The recorded command lines, for assertions. */
  lines(): string[] {
    return this.recorded.map((r) => r.text);
  }
}
