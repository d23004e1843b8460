/**
 * The per-app deploy lock on each host. It is an flock held by a remote
 * shell that lives only as long as djaploy's SSH session and its heartbeat:
 * when djaploy ends, is killed, or loses the connection, the shell ends
 * (stdin closes, or 30 s pass without a line from djaploy: a heartbeat or a
 * command) and the lock is free. No
 * stale lock outlives its run; `djaploy unlock` exists for the rare case.
 */
import { checkResult, type ExecResult, type Executor, type HeldCommand } from "../exec/executor.ts";
import { UserError } from "../errors.ts";
import { marker } from "../exec/marker.ts";
import { type RemoteCommand, toShell } from "../exec/remote_command.ts";
import { LOCK_BASH } from "./programs.gen.ts";
import { base64Bytes } from "./facts.ts";
import { RunTable } from "../run_table.ts";

/** How often djaploy tells the holding shell it is still there, and how long that shell waits. */
export interface LockTiming {
  readonly heartbeatMs: number;
  /** Seconds without a heartbeat after which the host gives the lock up. */
  readonly timeoutSeconds: number;
}

export const LOCK_TIMING: LockTiming = { heartbeatMs: 10_000, timeoutSeconds: 30 };

/** Seconds to wait for the holding shell to answer a heartbeat before calling the lock lost. */
const ANSWER_MS = 10_000;

export interface LockOwner {
  /** user@machine */
  readonly holder: string;
  /** The djaploy command line, e.g. "deploy --env production". */
  readonly command: string;
  /** ISO 8601 time the lock was taken. */
  readonly since: string;
}

/** In /run/djaploy/, which root makes and only root may write: root reads the owner file. */
export function lockPath(appName: string): string {
  return `/run/djaploy/${appName}.lock`;
}

// lock.bash: $1 lock file, $2 owner (JSON), $3 seconds to wait, $4 seconds without a
// heartbeat before giving up, $5 a script to run once locked (optional).
// Prints LOCKED and `THEN <exit code> <the script's output in base64>`, or HELD <owner line>
// and exits 75; with a wait, when another run holds the lock, WAITING <owner line>
// first, before it waits. Holds the lock while stdin stays open and heartbeats
// keep coming; answers each heartbeat line N with "beat N", and runs the
// commands it is sent (HeldLock.run) in the background, each with its output in root-only files
// that are sent on when it ended: no process a command starts (the app user's through sudo) ever
// holds the channel that carries root's commands and output. The owner file says
// "<pid> <start time of pid> <owner>": unlock checks both before it signals.

/** The owner file's text: "<pid> <start time> <json>" (or "<pid> <json>", written before start times). */
export interface OwnerRecord {
  readonly pid?: number;
  /** The holder's start time (/proc/PID/stat field 22), when recorded. */
  readonly started?: string;
  readonly owner?: LockOwner;
}

/** Parses the owner file's text; a pid is digits only, or there is none. */
export function parseOwner(text: string): OwnerRecord {
  const m = /^([1-9]\d{0,9})(?: (\d{1,20}))? (\{.*\})\s*$/.exec(text.trim());
  if (!m) return {};
  const started = m[2];
  try {
    return { pid: Number(m[1]), started, owner: JSON.parse(m[3]) as LockOwner };
  } catch {
    return { pid: Number(m[1]), started };
  }
}

export function describeOwner(owner: LockOwner | undefined, now = new Date()): string {
  if (!owner) return "an unknown run";
  const secs = Math.max(0, Math.round((now.getTime() - Date.parse(owner.since)) / 1000));
  return `${owner.holder} (djaploy ${owner.command}, since ${owner.since}, ${secs} s ago)`;
}

export interface HeldLock {
  /** What the `then` script printed, and its exit code. */
  readonly then?: ThenResult;
  /**
   * Throws when the lock may no longer be held: its shell ended (killed,
   * `djaploy unlock`, connection lost) or heartbeats stopped for longer than
   * the host waits (this machine slept, djaploy was suspended). Cheap while
   * heartbeats are answered; otherwise it asks the host once.
   */
  verify(): Promise<void>;
  /** Whether the shell holding the lock is still there to run commands. */
  readonly running: boolean;
  /**
   * Runs a command in the (root) shell that holds the lock, another user's
   * through `sudo -u`: no process, no ssh session of its own. Its output comes whole when it ends. It runs in the
   * background there: heartbeats are answered while it runs, and the lock is
   * freed as soon as djaploy goes, even while it still runs.
   */
  run(cmd: RemoteCommand): Promise<ExecResult>;
  /**
   * Gives the lock back after `cmd`, sent as the shell's last command with the
   * end of its input: the lock is freed once it ended, and its exit code is
   * the shell's (and ssh's), so no answer is read (one read and one wake-up
   * per host fewer than `run`, then `release`). Its output is not kept.
   * Throws as `run` does when the lock was lost before.
   */
  finish(cmd: RemoteCommand): Promise<ExecResult>;
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** How often to send heartbeats, and how long the host waits for one (LOCK_TIMING). */
  readonly timing?: LockTiming;
  /**
   * Called once when the lock is held by another run and this one waits for it
   * (a wait above 0), with what the holder recorded (none when it could not be read).
   */
  readonly onWait?: (holder: LockOwner | undefined) => void;
}

/**
 * Takes the app's deploy lock on a host. `then`, a script, runs as root in
 * the same round trip once the lock is held: a run reads the host's state
 * (facts) that way, after the lock and without another command.
 */
export async function acquireLock(
  exec: Executor,
  appName: string,
  owner: LockOwner,
  waitSeconds: number,
  then?: string,
  opts: AcquireOptions = {},
): Promise<HeldLock> {
  const timing = opts.timing ?? LOCK_TIMING;
  const held: HeldCommand = await exec.hold(
    lockCommand([
      lockPath(appName),
      JSON.stringify(owner),
      String(waitSeconds),
      String(timing.timeoutSeconds),
    ], then),
    { answersAtOnce: true },
  );
  // Lines before lock.bash's own: what sudo or bash said on their way (e.g. "sudo: unable to
  // resolve host"), on stdout when the shell opened the connection (lib/exec/ssh.ts). Kept for
  // the error, if the lock is not taken.
  const said: string[] = [];
  const next = async (): Promise<string | undefined> => {
    for (let line = await held.readLine(); line !== undefined; line = await held.readLine()) {
      if (/^(LOCKED$|WAITING |HELD )/.test(line)) return line;
      said.push(line);
    }
    return undefined;
  };
  let first = await next();
  // With a wait, the shell says whom it waits for before it waits (lock.bash).
  if (first?.startsWith("WAITING")) {
    opts.onWait?.(parseOwner(first.slice(8)).owner);
    first = await next();
  }
  if (first !== "LOCKED") {
    const result = await held.end();
    if (first?.startsWith("HELD")) {
      const { owner: other } = parseOwner(first.slice(5));
      throw new UserError(
        `Wait for the other run to finish: the deploy lock of ${appName} on ${exec.host} is held by ${
          describeOwner(other)
        }`,
        {
          hint:
            `Retry with --lock-wait SECONDS, or if that run is gone for good: djaploy unlock --env <env>`,
        },
      );
    }
    const output = [...said, result.stdout, result.stderr].join("\n").trim();
    throw new UserError(
      `Take the deploy lock on ${exec.host}: the lock command failed (exit code ${result.code}): ${output}`,
    );
  }
  const thenResult = then === undefined ? undefined : await readThen(held);
  const beats = new Heartbeats(held, appName, exec.host, timing);
  return {
    then: thenResult,
    verify: () => beats.verify(),
    get running() {
      return beats.running;
    },
    run: (cmd) => beats.run(cmd),
    async finish(cmd) {
      try {
        await beats.end(cmd);
      } catch (err) {
        beats.stop();
        await held.end({ readRest: false });
        throw err;
      }
      const ended = await held.end({ readRest: false });
      // 255 is ssh's own failure: the connection ended before the shell did.
      const lost = ended.code === 255
        ? "the connection to the host ended before the command did"
        : "";
      return { code: ended.code, stdout: "", stderr: lost, ms: ended.ms };
    },
    async release() {
      beats.stop();
      // Nothing it prints from here is read: the shell's exit frees the lock, and is waited for.
      await held.end({ readRest: false });
    },
  };
}

/**
 * The lock's commands of this process (one djaploy run), by the `then` script and then the other
 * arguments: the hosts of a run take the same lock with the same facts, and share one command,
 * the same object, which ssh turns into its command line once (lib/exec/ssh.ts). That line is
 * some 15 kB (lock.bash and the facts script, quoted), made again for each host before.
 */
const lockCommands = new RunTable<string, RunTable<string, RemoteCommand>>(16);

function lockCommand(args: readonly string[], then: string | undefined): RemoteCommand {
  return lockCommands.get(then ?? "", () => new RunTable(16)).get(args.join("\n"), () => ({
    argv: ["bash", "-c", LOCK_BASH, "bash", ...args, ...(then ? [then] : [])],
    as: "root",
  }));
}

/** The wall clock and the monotonic one: a sleeping laptop stops the latter on some systems. */
function now(): { wall: number; mono: number } {
  return { wall: Date.now(), mono: performance.now() };
}

function ageMs(since: { wall: number; mono: number }): number {
  const t = now();
  return Math.max(t.wall - since.wall, t.mono - since.mono);
}

/**
 * Numbered heartbeats and their answers. A heartbeat counts from when it
 * was sent, not when its answer was read: an answer read late (after a
 * suspend) proves nothing about the time in between.
 *
 * The shell waits for any line (lock.bash `read -t`), a command as much as a
 * heartbeat, and a command's answer proves it read that line as a
 * heartbeat's does. So a heartbeat goes out only when the shell was sent
 * nothing for a period: ticks come every half period, so the shell never
 * waits more than a period and a half for a line (15 s of its 30), and a
 * host busy with commands is sent few or none. Each heartbeat is a write and
 * an answer to read, a wake-up of djaploy for every host
 * (docs/benchmarks.md, "Heartbeats only for a shell sent nothing").
 */
class Heartbeats {
  readonly #held: HeldCommand;
  readonly #what: string;
  readonly #timing: LockTiming;
  readonly #sent = new Map<number, { wall: number; mono: number }>();
  #seq = 0;
  #answeredUpTo = 0;
  #answered = now();
  /** When the shell was last sent a line (a heartbeat or a command), or the lock was taken. */
  #lastSent = now();
  #lost?: string;
  #waiters: (() => void)[] = [];
  /** Commands sent to the shell and not answered yet, by mark (they end in any order). */
  readonly #runs = new Map<string, HeldRun>();
  readonly #leave: () => void;

  constructor(held: HeldCommand, appName: string, host: string, timing: LockTiming) {
    this.#held = held;
    this.#what = `the deploy lock of ${appName} on ${host}`;
    this.#timing = timing;
    this.#leave = joinTicks(timing.heartbeatMs / 2, () => {
      if (ageMs(this.#lastSent) >= timing.heartbeatMs) void this.#beat();
    });
    void this.#read();
  }

  async #read(): Promise<void> {
    // The command whose answer is being read: an answer comes whole, never mixed with another.
    let answering: HeldRun | undefined;
    for (
      let line = await this.#held.readLine();
      line !== undefined;
      line = await this.#held.readLine()
    ) {
      answering ??= line.endsWith(" start") ? this.#runs.get(line.slice(0, -6)) : undefined;
      if (answering?.take(line)) {
        if (answering.done) {
          // Like a heartbeat's answer: the shell read the command's line, sent at `sent`.
          if (answering.sent.mono > this.#answered.mono) this.#answered = answering.sent;
          this.#runs.delete(answering.mark);
          answering = undefined;
        }
        continue;
      }
      const m = /^beat (\d+)$/.exec(line);
      if (!m) continue;
      const n = Number(m[1]);
      const sent = this.#sent.get(n);
      for (const k of [...this.#sent.keys()]) if (k <= n) this.#sent.delete(k);
      this.#answeredUpTo = Math.max(this.#answeredUpTo, n);
      if (sent && sent.mono > this.#answered.mono) this.#answered = sent;
      this.#wake();
    }
    this.#lost ??=
      "the shell holding it on the host ended (killed, unlocked, or the connection closed)";
    for (const run of this.#runs.values()) run.fail(this.#lostError());
    this.#runs.clear();
    this.#wake();
  }

  get running(): boolean {
    return this.#lost === undefined;
  }

  /** Sends `cmd` to the (root) shell; its answer comes once it ended, between heartbeat answers. */
  async run(cmd: RemoteCommand): Promise<ExecResult> {
    this.#check();
    const mark = marker("held-run");
    const run = new HeldRun(mark);
    this.#runs.set(mark, run);
    this.#lastSent = run.sent;
    // One write: a heartbeat can go before or after it, never inside.
    await this.#held.write(framed(`run ${mark}`, cmd));
    return await run.result;
  }

  /** Sends `cmd` as the shell's last command, and the end of its input: no heartbeat after. */
  async end(cmd: RemoteCommand): Promise<void> {
    this.#check();
    this.stop();
    await this.#held.write(framed("end", cmd));
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async #beat(): Promise<number> {
    const n = ++this.#seq;
    this.#sent.set(n, this.#lastSent = now());
    await this.#held.write(`${n}\n`);
    return n;
  }

  stop(): void {
    this.#leave();
    this.#lost ??= "released";
    this.#wake();
  }

  async verify(): Promise<void> {
    this.#check();
    // Answered within the last heartbeat period or so: the host still waits for the next.
    const fresh = Math.min(this.#timing.heartbeatMs * 1.5, this.#timing.timeoutSeconds * 500);
    if (ageMs(this.#answered) < fresh) return;
    const gap = Math.round(ageMs(this.#answered) / 1000);
    // A heartbeat sent within that time and not answered yet (the timer's, another verify's):
    // its answer proves as much as a new one's, and the shell is sent no line twice.
    const pending = this.#sent.get(this.#seq);
    const n = pending !== undefined && ageMs(pending) < fresh ? this.#seq : await this.#beat();
    const deadline = Date.now() + ANSWER_MS;
    while (!this.#lost && !this.#isAnswered(n) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (!this.#isAnswered(n)) {
      this.#lost ??=
        `no heartbeat reached the host for ${gap} s (it gives the lock up after ${this.#timing.timeoutSeconds} s): was this machine asleep, or djaploy suspended?`;
    }
    this.#check();
  }

  #isAnswered(n: number): boolean {
    return this.#answeredUpTo >= n;
  }

  #check(): void {
    if (this.#lost) throw this.#lostError();
  }

  #lostError(): UserError {
    return new UserError(`Stopped: ${this.#what} was lost: ${this.#lost}`, {
      hint: "Nothing more was changed on this host after that. Another run may hold the lock " +
        "now: check with djaploy status, then run the command again.",
    });
  }
}

/** Every held lock's heartbeat, by period: what each tick calls. */
const ticks = new Map<number, { beats: Set<() => void>; timer: ReturnType<typeof setInterval> }>();

/**
 * Calls `beat` every `periodMs` (the first call within `periodMs`) until the
 * returned function is called. One timer for all the locks of a period,
 * not one each: at each tick every held lock sends its heartbeat, so over a
 * fleet the hosts' answers come back together too, and djaploy wakes up a
 * few times per tick instead of twice per host (each wake-up costs the
 * controller's CPU, the more the longer it had nothing to do:
 * docs/benchmarks.md, "What a wait costs").
 */
export function joinTicks(periodMs: number, beat: () => void): () => void {
  let tick = ticks.get(periodMs);
  if (!tick) {
    const beats = new Set<() => void>();
    const timer = setInterval(() => {
      for (const b of beats) b();
    }, periodMs);
    Deno.unrefTimer(timer);
    tick = { beats, timer };
    ticks.set(periodMs, tick);
  }
  // Each call its own entry, even for the same function.
  const entry = () => beat();
  tick.beats.add(entry);
  const joined = tick;
  return () => {
    if (!joined.beats.delete(entry) || joined.beats.size > 0) return;
    clearInterval(joined.timer);
    if (ticks.get(periodMs) === joined) ticks.delete(periodMs);
  };
}

const encoder = new TextEncoder();
const ASCII = /^\p{ASCII}*$/u;

/**
 * A text's length in UTF-8 bytes; for ASCII, whose length is its size, without a copy. Nearly
 * every script is ASCII: only values from the config (a path, an environment value) bring others.
 */
function utf8Length(text: string): number {
  return ASCII.test(text) ? text.length : encoder.encode(text).length;
}

/** `head`, the sizes of `cmd`'s script and input in bytes, a newline, then both, raw (lock.bash). */
function framed(head: string, cmd: RemoteCommand): string {
  const script = toShell(cmd, "root");
  const input = inputOf(cmd);
  return `${head} ${utf8Length(script)} ${utf8Length(input)}\n${script}${input}`;
}

/**
 * A command run by the shell that holds the lock, read from its output:
 * "<mark> start", stdout, "<mark>", stderr, "<mark> <code>" (each mark after
 * a newline of the shell's own, which is not the command's).
 */
class HeldRun {
  readonly result: Promise<ExecResult>;
  done = false;
  #phase: "waiting" | "stdout" | "stderr" = "waiting";
  readonly #stdout: string[] = [];
  readonly #stderr: string[] = [];
  readonly mark: string;
  /** When its line was sent: its answer proves the shell read it, as a heartbeat's does. */
  readonly sent = now();
  #resolve!: (r: ExecResult) => void;
  #reject!: (e: unknown) => void;

  constructor(mark: string) {
    this.mark = mark;
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Takes a line of this command's answer (from its "<mark> start" on); false for any other line. */
  take(line: string): boolean {
    if (this.#phase === "waiting") {
      if (line !== `${this.mark} start`) return false;
      this.#phase = "stdout";
    } else if (this.#phase === "stdout") {
      if (line === this.mark) this.#phase = "stderr";
      else this.#stdout.push(line);
    } else if (
      line.startsWith(`${this.mark} `) && /^\d+$/.test(line.slice(this.mark.length + 1))
    ) {
      this.done = true;
      this.#resolve({
        code: Number(line.slice(this.mark.length + 1)),
        stdout: joinLines(this.#stdout),
        stderr: joinLines(this.#stderr),
        ms: performance.now() - this.sent.mono,
      });
    } else this.#stderr.push(line);
    return true;
  }

  fail(error: unknown): void {
    this.done = true;
    this.#reject(error);
  }
}

/** The text of lines read up to a mark that came after a newline of its own. */
function joinLines(lines: readonly string[]): string {
  return lines.map((l) => `${l}\n`).join("").slice(0, -1);
}

/**
 * An executor whose root and app-user commands run in the shell that holds
 * the host's deploy lock while it does (one process and ssh session fewer
 * each); a command as the ssh user, one whose input holds a NUL byte, and
 * every command once the lock is given back, go as before. Only for
 * executors that say so (`lockShellRuns`): a recording executor keeps
 * recording each command.
 */
export function runningUnderLock(exec: Executor, held: () => HeldLock | undefined): Executor {
  const routed: Executor = {
    get host() {
      return exec.host;
    },
    get sshUser() {
      return exec.sshUser;
    },
    get stats() {
      return exec.stats;
    },
    connect: () => exec.connect(),
    async run(cmd) {
      const lock = heldShellFor(exec, held(), cmd);
      if (!lock) return await exec.run(cmd);
      exec.stats.commands++;
      return checkResult(exec.host, exec.sshUser, cmd, await lock.run(cmd));
    },
    sync: (opts) => exec.sync(opts),
    hold: (cmd, opts) => exec.hold(cmd, opts),
    close: () => exec.close(),
  };
  if (exec.interactive) routed.interactive = (cmd, opts) => exec.interactive!(cmd, opts);
  if (exec.chain) routed.chain = (cmds) => exec.chain!(cmds);
  return routed;
}

/**
 * Runs `cmd` as the last command of the shell that holds `lock`, which is
 * then given back (HeldLock.finish). A command that shell would not run (the
 * ssh user's, NUL input), or any once the lock was lost, runs on its own
 * before the lock is given back.
 */
export async function finishLock(
  exec: Executor,
  lock: HeldLock | undefined,
  cmd: RemoteCommand,
): Promise<ExecResult> {
  const shell = heldShellFor(exec, lock, cmd);
  if (shell) {
    exec.stats.commands++;
    return checkResult(exec.host, exec.sshUser, cmd, await shell.finish(cmd));
  }
  try {
    return await exec.run(cmd);
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/** `lock`, when it is still held and its shell runs `cmd` (runsInHeldShell); otherwise none. */
function heldShellFor(
  exec: Executor,
  lock: HeldLock | undefined,
  cmd: RemoteCommand,
): HeldLock | undefined {
  return lock?.running && runsInHeldShell(cmd, exec.sshUser) ? lock : undefined;
}

/**
 * Whether the (root) shell that holds the lock runs `cmd` as it would run on
 * its own: root's as it is, another user's through the same `sudo -u`. Not a
 * command of the ssh user's (on its own it runs without sudo), nor one whose
 * input a shell variable cannot hold.
 */
function runsInHeldShell(cmd: RemoteCommand, sshUser: string): boolean {
  if (cmd.as === undefined || (cmd.as === sshUser && sshUser !== "root")) return false;
  return !hasNul(cmd);
}

/** A command's input as text ("" for none), a secret's revealed. */
function inputOf(cmd: RemoteCommand): string {
  if (cmd.stdin === undefined) return "";
  return typeof cmd.stdin === "string" ? cmd.stdin : cmd.stdin.reveal();
}

/** Bytes a shell variable cannot hold: such a command goes its own way. */
function hasNul(cmd: RemoteCommand): boolean {
  return inputOf(cmd).includes("\0") || cmd.argv.some((a) => a.includes("\0"));
}
/** What the `then` script printed (its bytes, and as text) and its exit code. */
export interface ThenResult {
  readonly code: number;
  /** Undefined when its answer did not come whole (then `stdout` is what came instead). */
  readonly bytes?: Uint8Array;
  readonly stdout: string;
}

/**
 * Reads the `then` script's answer: one line, "THEN <exit code> <its output in
 * base64>" (one line, not the output's own: a loop over a few dozen lines per
 * host is code V8 compiles once a fleet makes it hot). Taken apart with
 * indexOf: the line holds all the facts, some 10 kB, which a regular
 * expression would walk again.
 */
async function readThen(held: HeldCommand): Promise<ThenResult> {
  const line = await held.readLine() ?? "";
  const space = line.startsWith("THEN ") ? line.indexOf(" ", 5) : -1;
  const code = space === -1 ? "" : line.slice(5, space);
  const bytes = /^\d{1,3}$/.test(code) ? base64Bytes(line.slice(space + 1)) : undefined;
  if (bytes === undefined) return { stdout: line, code: 255 };
  return { code: Number(code), bytes, stdout: utf8.decode(bytes) };
}

const utf8 = new TextDecoder();

/** Who holds a lock taken now for `commandLine`: `user@machine`, the command, the time. */
export function lockOwner(commandLine: string): LockOwner {
  let machine = "unknown";
  try {
    machine = Deno.hostname();
  } catch {
    // Without --allow-sys=hostname the owner record says "unknown".
  }
  const user = Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown";
  return { holder: `${user}@${machine}`, command: commandLine, since: new Date().toISOString() };
}
