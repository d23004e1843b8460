/**
 * The only module that starts processes. Everything else goes through
 * `runProcess` (via an executor), so tests and --dry-run can record instead.
 */

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

export async function runProcess(
  program: string,
  args: readonly string[],
  opts: ProcessOptions = {},
): Promise<ProcessResult> {
  const started = performance.now();
  const stdio = opts.inherit ? "inherit" : opts.quiet ? "null" : "piped";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: [...args],
      cwd: opts.cwd,
      env: opts.env ? { ...opts.env } : undefined,
      stdin: opts.inherit ? "inherit" : opts.stdin === undefined ? "null" : "piped",
      stdout: stdio,
      stderr: stdio,
      signal: opts.signal,
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new ProgramNotFoundError(program);
    throw err;
  }
  if (opts.stdin !== undefined && !opts.inherit) {
    const writer = child.stdin.getWriter();
    const data = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
    try {
      await writer.write(data);
      await writer.close();
    } catch {
      // The process exited without reading all of its input; its exit code tells the rest.
    }
  }
  if (opts.inherit || opts.quiet) {
    const status = await child.status;
    return { code: status.code, stdout: "", stderr: "", ms: performance.now() - started };
  }
  const [stdout, stderr, status] = await Promise.all([
    readAll(child.stdout, opts.onStdout),
    readAll(child.stderr),
    child.status,
  ]);
  return { code: status.code, stdout, stderr, ms: performance.now() - started };
}

async function readAll(
  stream: ReadableStream<Uint8Array>,
  onChunk?: (chunk: string) => void,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    const part = decoder.decode(chunk, { stream: true });
    text += part;
    onChunk?.(part);
  }
  return text + decoder.decode();
}
