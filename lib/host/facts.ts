/**
 * Facts: what is on a host now. A probe is a command plus a pure parser of
 * its output. All probes of a run are sent in one round trip, as root, at the
 * start; steps then compare what they want with what is there and do nothing
 * when nothing needs doing.
 */
import type { Executor } from "../exec/executor.ts";
import { render } from "../shell.ts";
import { shScript } from "../exec/remote_command.ts";
import { UserError } from "../errors.ts";
import { RunTable } from "../run_table.ts";

/** A probe: a command run on the host and a pure parser of its output. */
export interface FactProbe<T = unknown> {
  /** Unique within a run: facts are stored under this name. */
  readonly name: string;
  /** The command, run as root with the other probes of the run. */
  readonly argv: readonly string[];
  /** Turns the command's output and exit code into the fact. */
  readonly parse: (stdout: string, code: number) => T;
}

/** The facts of one host: probe values and hashes of managed files, read at the start of a run. */
export class Facts {
  readonly #values = new Map<string, unknown>();
  readonly #hashes = new Map<string, string>();

  /** The value a gathered probe parsed to. */
  get<T>(probe: FactProbe<T>): T {
    if (!this.#values.has(probe.name)) {
      throw new Error(
        `Fact "${probe.name}" was not gathered: list its probe in the module's facts`,
      );
    }
    return this.#values.get(probe.name) as T;
  }

  /** Replaces a fact, after a step changed what it describes. */
  set<T>(probe: FactProbe<T>, value: T): void {
    this.#values.set(probe.name, value);
  }

  /** sha256 of a managed file's content, or undefined when it does not exist. */
  fileHash(path: string): string | undefined {
    return this.#hashes.get(path);
  }

  /** Records a managed file's new hash (undefined: removed) after a step wrote it. */
  setFileHash(path: string, hash: string | undefined): void {
    if (hash === undefined) this.#hashes.delete(path);
    else this.#hashes.set(path, hash);
  }
}

/**
 * The one shell script that runs every probe; exported for tests. Each
 * probe's answer is a line "<exit code> <length of its output in bytes>" and
 * then its output, raw: read by its length, nothing a probe prints (a link or
 * a file the app user controls) can pass for another probe's answer. The
 * shell counts bytes, not characters (`LC_ALL=C`: bash's `${#o}` follows the
 * locale, dash's counts bytes in any). A command substitution drops NUL bytes
 * and this one keeps trailing newlines (the x).
 */
export function factsScript(probes: readonly FactProbe[]): string {
  const parts = ["exec 2>/dev/null", "LC_ALL=C"];
  for (const p of probes) {
    // Which probe answers next, for whoever reads the script (a no-op).
    parts.push(`: probe ${render([p.name])}`);
    parts.push(`o=$( (${render(p.argv)}); c=$?; printf x; exit $c ); c=$?; o=\${o%x}`);
    parts.push(`printf '%s %s\\n%s' "$c" "\${#o}" "$o"`);
  }
  return parts.join("\n");
}

/**
 * Each probe's output and exit code, in the script's order, from what the
 * script printed; undefined unless it is `count` answers, whole, and nothing
 * after them. `text` is `bytes` decoded, when the caller has it.
 */
export function splitFactsOutput(
  bytes: Uint8Array,
  count: number,
  text: string = utf8.decode(bytes),
): { out: string; code: number }[] | undefined {
  const spans: { code: number; start: number; end: number }[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const code = readNumber(bytes, at, 3, SPACE);
    if (code === undefined) return undefined;
    const length = readNumber(bytes, code.next, 12, NEWLINE);
    if (length === undefined) return undefined;
    const end = length.next + length.value;
    if (end > bytes.length) return undefined;
    spans.push({ code: code.value, start: length.next, end });
    at = end;
  }
  if (at !== bytes.length) return undefined;
  // Text offsets are byte offsets when every byte is ASCII: each byte decoded to one character and
  // none to U+FFFD (a byte that is not UTF-8 does; a character of 2-4 bytes decodes to 1-2).
  const ascii = text.length === bytes.length && !text.includes("\uFFFD");
  return spans.map(({ code, start, end }) => ({
    code,
    out: ascii ? text.slice(start, end) : utf8.decode(bytes.subarray(start, end)),
  }));
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** The decimal number of 1 to `maxDigits` digits at `at`, ended by the byte `end`. */
function readNumber(
  bytes: Uint8Array,
  at: number,
  maxDigits: number,
  end: number,
): { value: number; next: number } | undefined {
  let value = 0;
  let i = at;
  for (; i < bytes.length && i - at <= maxDigits; i++) {
    const b = bytes[i];
    if (b === end) break;
    if (b < 0x30 || b > 0x39) return undefined;
    value = value * 10 + b - 0x30;
  }
  if (i === at || i - at > maxDigits || bytes[i] !== end) return undefined;
  return { value, next: i + 1 };
}

const utf8 = new TextDecoder();

/**
 * The bytes that `base64` encodes, or undefined when it is not base64 as
 * `base64 -w 0` writes it (padded, no whitespace, which `fromBase64` would
 * skip: its canonical length tells).
 */
export function base64Bytes(base64: string): Uint8Array | undefined {
  try {
    const bytes = Uint8Array.fromBase64(base64, { lastChunkHandling: "strict" });
    return base64.length === Math.ceil(bytes.length / 3) * 4 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** A probe for the sha256 of files (missing files are simply absent). */
export function fileHashesProbe(paths: readonly string[]): FactProbe<Map<string, string>> {
  return {
    name: "file-hashes",
    argv: ["sha256sum", "--", ...paths],
    parse: (out) => {
      const map = new Map<string, string>();
      for (const line of out.split("\n")) {
        const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
        if (m) map.set(m[2], m[1]);
      }
      return map;
    },
  };
}

/** What the facts script printed: its bytes (undefined when they did not arrive whole) and text. */
export interface FactsOutput {
  readonly code: number;
  readonly bytes?: Uint8Array;
  /** `bytes` decoded (decoded once per host, for the outputs that are slices of it). */
  readonly stdout: string;
  readonly stderr?: string;
}

const NOT_RUN = { out: "", code: 127 };

/** What a run reads from a host: one script, and how to read its output into Facts. */
export interface FactsQuery {
  readonly script: string;
  read(exec: Executor, result: FactsOutput): Facts;
}

export function factsQuery(probes: readonly FactProbe[], files: readonly string[]): FactsQuery {
  const hashProbe = fileHashesProbe([...new Set(files)]);
  const unique = [...new Map(probes.map((p) => [p.name, p])).values()];
  const all = files.length ? [...unique, hashProbe] : unique;
  const script = madeScript(all);
  return {
    script,
    read(exec, result) {
      // Output that is not the script's answer, with an exit code of 0, reads as probes that did
      // not run (as with a recording executor's empty answer); with another, it is an error.
      const outputs = (result.bytes && splitFactsOutput(result.bytes, all.length, result.stdout)) ??
        (result.code === 0 ? all.map(() => NOT_RUN) : undefined);
      if (outputs === undefined) {
        throw new UserError(
          `Cannot read the state of ${exec.host}: ${
            result.stderr?.trim() || `exit code ${result.code}`
          }`,
          { hint: `The ssh user ${exec.sshUser} needs passwordless sudo (sudo -n).` },
        );
      }
      const facts = new Facts();
      all.forEach((p, i) => facts.set(p, p.parse(outputs[i].out, outputs[i].code)));
      if (files.length) {
        for (const [path, hash] of facts.get(hashProbe)) facts.setFileHash(path, hash);
      }
      return facts;
    },
  };
}

/**
 * Facts scripts made in this process (one djaploy run), by their probes: the hosts of a
 * run mostly read the same facts, and one script serves them all; each host's output is still
 * read by its own probes' parsers. Made per host, the script and its quoting were a few tenths of
 * a millisecond of each host's CPU (docs/benchmarks.md, "A run's scripts made and quoted once").
 */
const madeScripts = new RunTable<string, string>(16);

function madeScript(probes: readonly FactProbe[]): string {
  // Names as well as commands: the script names each probe.
  return madeScripts.get(
    JSON.stringify(probes.map((p) => [p.name, p.argv])),
    () => factsScript(probes),
  );
}

/** Reads the facts in one round trip, as root. */
export async function gatherFacts(
  exec: Executor,
  probes: readonly FactProbe[],
  files: readonly string[],
): Promise<Facts> {
  const query = factsQuery(probes, files);
  // In base64, as the deploy lock's shell sends them (lib/host/lock.bash): their lengths count bytes.
  const result = await exec.run({
    argv: shScript(`(${query.script}) | base64 -w 0`),
    as: "root",
    readOnly: true,
    okCodes: [0, 1],
  });
  const bytes = base64Bytes(result.stdout.trim());
  return query.read(exec, {
    code: result.code,
    bytes,
    stdout: bytes ? utf8.decode(bytes) : "",
    stderr: result.stderr,
  });
}
