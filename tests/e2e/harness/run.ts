/**
 * The harness's only way to start a process (the one `Deno.Command` in tests/e2e).
 */

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProcessResult extends RunResult {
  /** stdout and stderr interleaved in the order their chunks arrived. */
  readonly output: string;
  /** Wall time in milliseconds. */
  readonly ms: number;
}

export interface RunOptions {
  readonly cwd?: string;
  /** The child's whole environment (replaces, does not merge); default inherited. */
  readonly env?: Record<string, string>;
  readonly stdin?: string;
  /** Kill the process after this long; default 10 minutes. */
  readonly timeoutMs?: number;
  /** Called with the started process (e.g. to kill it mid-run). */
  readonly onSpawn?: (child: Deno.ChildProcess) => void;
  /** Called with each chunk of stdout as it arrives (e.g. to follow `--json` events). */
  readonly onStdout?: (chunk: string) => void;
}

/** Runs a program to completion and captures its output; never throws for an exit code. */
export async function run(
  program: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<ProcessResult> {
  const started = performance.now();
  const abort = new AbortController();
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: [...args],
        cwd: opts.cwd,
        env: opts.env,
        clearEnv: opts.env !== undefined,
        stdin: opts.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
        signal: abort.signal,
      }).spawn();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new Error(`Install ${program}: not found`);
      throw err;
    }
    opts.onSpawn?.(child);
    const chunks: string[] = [];
    const collect = async (stream: ReadableStream<Uint8Array>, each?: (chunk: string) => void) => {
      let text = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        chunks.push(chunk);
        each?.(chunk);
      }
      return text;
    };
    const [stdout, stderr, status] = await Promise.all([
      collect(child.stdout, opts.onStdout),
      collect(child.stderr),
      child.status,
      opts.stdin === undefined ? undefined : feed(child.stdin, opts.stdin),
    ]);
    const note = abort.signal.aborted ? `\n[harness] killed after ${timeoutMs} ms\n` : "";
    return {
      code: status.code,
      stdout,
      stderr: stderr + note,
      output: chunks.join("") + note,
      ms: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
  }
}

async function feed(stdin: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch {
    // The process exited without reading all of its input; its exit code tells the rest.
  }
}

/** Quotes one word for a POSIX shell. */
export function q(word: string): string {
  return /^[\w\/.,:=+@%-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
