/**
 * The only module that starts processes. Everything else goes through
 * `runProcess` (via an executor), so tests and --dry-run can record instead.
 */
import { flushStdout } from "../output/stdout.ts";

export interface ProcessOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Bytes or text written to the process's stdin, which is then closed. */
  readonly stdin?: string | Uint8Array;
  readonly signal?: AbortSignal;
  /** Let the child use this terminal's stdin/stdout/stderr (interactive commands). */
  readonly inherit?: boolean;
  /** Called with each chunk of stdout as it arrives (live output). */
  readonly onStdout?: (chunk: string) => void;
  /** Discard stdout and stderr (for daemons that keep the pipes open). */
  readonly quiet?: boolean;
  /**
   * Its own session (setsid): Ctrl-C at the terminal reaches djaploy only,
   * which lets a running remote step finish (lib/cli/interrupt.ts).
   */
  readonly detached?: boolean;
  /**
   * Where stdout and stderr go instead of pipes: the files `<path>.out` and
   * `<path>.err` (the caller gives a path in a folder only djaploy can
   * enter), read and removed once the process has ended. A pipe djaploy reads
   * costs it about three times what starting the process does; for a process
   * whose output is read only at its end (rsync, once per host), files cost
   * a small part of that. Without permission to run sh: pipes.
   */
  readonly outputFile?: string;
}

export interface ProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time in milliseconds. */
  readonly ms: number;
}

export class ProgramNotFoundError extends Error {
  constructor(readonly program: string) {
    super(`Program not found: ${program}`);
    this.name = "ProgramNotFoundError";
  }
}

/**
 * How a child gets its own session. Deno's `detached` forks all of djaploy
 * to call setsid() in the child, which costs 1-2.5 ms of CPU per process at
 * djaploy's size (several per host and deploy); setsid(1) does the same in
 * the new process, which is spawned without a fork. Used where it exists
 * and djaploy may run it (--allow-run=...,setsid); otherwise `detached`.
 */
let setsidState: "unknown" | "use" | "avoid" = "unknown";

function useSetsid(): boolean {
  if (setsidState === "unknown") {
    setsidState = "avoid";
    try {
      if (
        Deno.build.os === "linux" &&
        Deno.permissions.querySync({ name: "run", command: "setsid" }).state === "granted"
      ) setsidState = "use";
    } catch {
      // Permissions that cannot be queried: the fork it is.
    }
  }
  return setsidState === "use";
}

/** Whether djaploy may run sh (outputFile), asked once. */
let shState: "unknown" | "use" | "avoid" = "unknown";

function mayRunSh(): boolean {
  if (shState === "unknown") {
    shState = "avoid";
    try {
      if (Deno.permissions.querySync({ name: "run", command: "sh" }).state === "granted") {
        shState = "use";
      }
    } catch {
      // Permissions that cannot be queried: pipes.
    }
  }
  return shState === "use";
}

/** sh's arguments that run `program` with stdout and stderr sent to the files `out` and `err`. */
const TO_FILES = 'o=$1 e=$2; shift 2; exec "$@" >"$o" 2>"$e"';

/** util-linux setsid(1) exits 127 with this when it cannot find the program. */
const SETSID_NOT_FOUND = /^setsid: failed to execute /;

/**
 * Whether a process started through setsid(1) ended because its program was not found: setsid
 * says so on stderr; with stderr not read, an exit of 127 with no output and no such program on
 * PATH tells it.
 */
function programWasMissing(
  program: string,
  result: { code: number; stdout: string; stderr: string },
  stderrRead = true,
): boolean {
  if (result.code !== 127) return false;
  return stderrRead
    ? SETSID_NOT_FOUND.test(result.stderr)
    : result.stdout === "" && !onPath(program);
}

/** Spawns `program`, in its own session when `detached` (through setsid(1) when it can). */
function spawn(
  program: string,
  args: readonly string[],
  options: Deno.CommandOptions,
): { child: Deno.ChildProcess; viaSetsid: boolean } {
  if (options.detached && useSetsid()) {
    try {
      const child = new Deno.Command("setsid", {
        ...options,
        args: [program, ...args],
        detached: false,
      }).spawn();
      return { child, viaSetsid: true };
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      setsidState = "avoid"; // no setsid(1) here
    }
  }
  try {
    return {
      child: new Deno.Command(program, { ...options, args: [...args] }).spawn(),
      viaSetsid: false,
    };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new ProgramNotFoundError(program);
    throw err;
  }
}

export async function runProcess(
  program: string,
  args: readonly string[],
  opts: ProcessOptions = {},
): Promise<ProcessResult> {
  const started = performance.now();
  if (opts.outputFile && !opts.inherit && !opts.quiet && !opts.onStdout && mayRunSh()) {
    return await runToFiles(program, args, opts.outputFile, opts, started);
  }
  // What djaploy printed comes before what the process prints on the same terminal.
  if (opts.inherit) flushStdout();
  const stdio = opts.inherit ? "inherit" : opts.quiet ? "null" : "piped";
  const { child, viaSetsid } = spawn(program, args, {
    cwd: opts.cwd,
    env: opts.env ? { ...opts.env } : undefined,
    stdin: opts.inherit ? "inherit" : opts.stdin === undefined ? "null" : "piped",
    stdout: stdio,
    stderr: stdio,
    signal: opts.signal,
    detached: opts.detached,
  });
  const result = await finishProcess(child, started, opts);
  if (viaSetsid && programWasMissing(program, result)) {
    throw new ProgramNotFoundError(program);
  }
  return result;
}

/** runProcess with stdout and stderr in files (ProcessOptions.outputFile). */
async function runToFiles(
  program: string,
  args: readonly string[],
  path: string,
  opts: ProcessOptions,
  started: number,
): Promise<ProcessResult> {
  const out = `${path}.out`;
  const err = `${path}.err`;
  const { child } = spawn("sh", ["-c", TO_FILES, "sh", out, err, program, ...args], {
    cwd: opts.cwd,
    env: opts.env ? { ...opts.env } : undefined,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "null",
    signal: opts.signal,
    detached: opts.detached,
  });
  if (opts.stdin !== undefined) await writeStdin(child, opts.stdin);
  const status = await child.status;
  const result = {
    code: status.code,
    stdout: takeFile(out),
    stderr: takeFile(err),
    ms: performance.now() - started,
  };
  // sh says "not found" in its own words, and exits 127 as the program may.
  if (result.code === 127 && !onPath(program)) throw new ProgramNotFoundError(program);
  return result;
}

/** A file's text, and the file removed; "" when it was never written. */
function takeFile(path: string): string {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return "";
  }
  try {
    Deno.removeSync(path);
  } catch {
    // Gone already: the run's folder is removed at its end anyway.
  }
  return text;
}

async function writeStdin(child: Deno.ChildProcess, input: string | Uint8Array): Promise<void> {
  const writer = child.stdin.getWriter();
  const data = typeof input === "string" ? new TextEncoder().encode(input) : input;
  try {
    await writer.write(data);
    await writer.close();
  } catch {
    // The process exited without reading all of its input; its exit code tells the rest.
  }
}

/**
 * Resolves 200 ms after `child` ended, when it ended because `signal` told it to stop (and never
 * otherwise): its pipes may still be open elsewhere (an ssh master holds its mux clients' until
 * the remote command ends), so whoever reads them stops then.
 */
function stoppedAfterExit(
  child: Deno.ChildProcess,
  signal: AbortSignal | undefined,
): Promise<void> | undefined {
  if (!signal) return undefined;
  return child.status.then(() =>
    signal.aborted ? new Promise<void>((r) => setTimeout(r, 200)) : new Promise<void>(() => {})
  );
}

async function finishProcess(
  child: Deno.ChildProcess,
  started: number,
  opts: ProcessOptions,
): Promise<ProcessResult> {
  if (opts.stdin !== undefined && !opts.inherit) await writeStdin(child, opts.stdin);
  if (opts.inherit || opts.quiet) {
    const status = await child.status;
    return { code: status.code, stdout: "", stderr: "", ms: performance.now() - started };
  }
  const stopped = stoppedAfterExit(child, opts.signal);
  if (opts.onStdout) {
    const [stdout, stderr, status] = await Promise.all([
      readAll(child.stdout, opts.onStdout, stopped),
      readAll(child.stderr, undefined, stopped),
      child.status,
    ]);
    return { code: status.code, stdout, stderr, ms: performance.now() - started };
  }
  // Without live output, each pipe is read whole in one operation (no stream per chunk):
  // the cheapest way for djaploy, which reads several commands' output per host.
  const output = Promise.all([child.stdout.text(), child.stderr.text(), child.status]);
  const done = stopped ? await Promise.race([output, stopped.then(() => undefined)]) : await output;
  if (done) {
    const [stdout, stderr, status] = done;
    return { code: status.code, stdout, stderr, ms: performance.now() - started };
  }
  // Stopped, and the pipes still open elsewhere: their output is given up.
  output.catch(() => undefined);
  child.unref();
  const status = await child.status;
  return { code: status.code, stdout: "", stderr: "", ms: performance.now() - started };
}

async function readAll(
  stream: ReadableStream<Uint8Array>,
  onChunk?: (chunk: string) => void,
  stop?: Promise<void>,
): Promise<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  void stop?.then(() => reader.cancel().catch(() => undefined));
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const part = decoder.decode(value, { stream: true });
    text += part;
    onChunk?.(part);
  }
  return text + decoder.decode();
}

/** A process that keeps running while we talk to it over stdin and read its stdout by line. */
export interface LiveProcess {
  /** The next line of stdout, or undefined at its end. */
  readLine(): Promise<string | undefined>;
  write(text: string): Promise<void>;
  /**
   * Closes stdin and waits for the process to end; throws ProgramNotFoundError
   * when it was started through setsid(1) and its program was not there.
   * With `readRest: false`, what it prints from now on is not read (the
   * result's stdout holds only lines not read yet, its stderr is not waited
   * for and comes back empty): see HeldCommand.end.
   */
  close(opts?: { readRest?: boolean }): Promise<ProcessResult>;
}

export interface LiveProcessOptions {
  readonly signal?: AbortSignal;
  readonly detached?: boolean;
  /**
   * "null": the process's stderr goes nowhere, and close() gives "" for it. For a process whose
   * stderr says nothing djaploy needs (ssh with -E, its remote command's stderr sent to its
   * stdout): a pipe and a stream less per process.
   */
  readonly stderr?: "piped" | "null";
}

export function startProcess(
  program: string,
  args: readonly string[],
  opts: LiveProcessOptions = {},
): LiveProcess {
  const started = performance.now();
  const readStderr = opts.stderr !== "null";
  const { child, viaSetsid } = spawn(program, args, {
    stdin: "piped",
    stdout: "piped",
    stderr: readStderr ? "piped" : "null",
    signal: opts.signal,
    detached: opts.detached,
  });
  const writer = child.stdin.getWriter();
  // Read into one buffer of our own (a default reader allocates 64 kB for every read, and the
  // facts come in many small reads) and decoded here, not through a TextDecoderStream.
  const reader = child.stdout.getReader({ mode: "byob" });
  const decoder = new TextDecoder();
  let spare: Uint8Array | undefined;
  /** The next chunk, decoded; undefined at the end (readLine and close may both be reading). */
  const readText = async (): Promise<string | undefined> => {
    const buf = spare ?? new Uint8Array(16 * 1024);
    spare = undefined;
    const { value, done } = await reader.read(buf);
    const text = done ? undefined : decoder.decode(value, { stream: true });
    if (value) spare = new Uint8Array(value.buffer);
    return text;
  };
  const stderr = readStderr ? child.stderr.text() : Promise.resolve("");
  const stopped = stoppedAfterExit(child, opts.signal);
  void stopped?.then(() => reader.cancel().catch(() => undefined));
  // Complete lines not yet read (from `head` on), and the start of the next one. Each chunk is
  // split once: the facts a deploy reads under its lock come as one long burst of lines.
  let lines: string[] = [];
  let head = 0;
  let partial = "";
  let rest = "";
  let ended = false;
  const encoder = new TextEncoder();
  return {
    async readLine() {
      while (head >= lines.length && !ended) {
        const chunk = await readText();
        if (chunk === undefined) ended = true;
        const text = partial + (chunk ?? decoder.decode());
        const parts = text.split("\n");
        partial = parts.pop()!;
        lines = parts;
        head = 0;
      }
      if (head < lines.length) return lines[head++];
      if (partial === "") return undefined;
      const line = partial;
      partial = "";
      return line;
    },
    async write(text) {
      await writer.write(encoder.encode(text)).catch(() => undefined);
    },
    async close({ readRest = true } = {}) {
      await writer.close().catch(() => undefined);
      if (!readRest && !ended) {
        // Our end of its stdout closed: a read still waiting (readLine) ends as at its end.
        ended = true;
        await reader.cancel().catch(() => undefined);
      }
      while (!ended) {
        const chunk = await readText();
        if (chunk === undefined) {
          ended = true;
          rest += decoder.decode();
        } else rest += chunk;
      }
      const status = await child.status;
      const unread = lines.slice(head).map((l) => `${l}\n`).join("") + partial;
      const result = {
        code: status.code,
        stdout: unread + rest,
        stderr: !readRest
          ? ""
          : stopped
          ? await Promise.race([stderr, stopped.then(() => "")])
          : await stderr,
        ms: performance.now() - started,
      };
      if (viaSetsid && programWasMissing(program, result, readStderr)) {
        throw new ProgramNotFoundError(program);
      }
      return result;
    },
  };
}

/** Whether an executable `program` is in one of PATH's folders. */
function onPath(program: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const info = Deno.statSync(`${dir || "."}/${program}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // not there, or not ours to read
    }
  }
  return false;
}
