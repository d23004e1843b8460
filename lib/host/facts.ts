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
import { marker } from "../exec/marker.ts";
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
 * probe's output travels base64-encoded between `mark` lines, so nothing it
 * prints (a link or a file the app user controls) can look like a mark.
 */
export function factsScript(probes: readonly FactProbe[], mark: string = marker("fact")): string {
  const parts = ["exec 2>/dev/null"];
  for (const p of probes) {
    parts.push(`printf '\\n${mark} %s\\n' ${render([p.name])}`);
    parts.push(`o=$( (${render(p.argv)}); c=$?; printf x; exit $c ); c=$?`);
    parts.push(`printf '%s' "\${o%x}" | base64 -w 0`);
    parts.push(`printf '\\n${mark}-exit %s\\n' "$c"`);
  }
  return parts.join("\n");
}

/**
 * Splits the script's output into each probe's stdout and exit code: "\n<mark> <name>\n",
 * the output in base64, "\n<mark>-exit <code>\n". Found with indexOf, not a regular expression:
 * each host's mark is new, and a new expression is compiled again for every host.
 */
export function splitFactsOutput(
  stdout: string,
  mark: string,
): Map<string, { out: string; code: number }> {
  const result = new Map<string, { out: string; code: number }>();
  const head = `\n${mark} `;
  const tail = `\n${mark}-exit `;
  for (let at = stdout.indexOf(head); at !== -1; at = stdout.indexOf(head, at + 1)) {
    const nameAt = at + head.length;
    const nameEnd = stdout.indexOf("\n", nameAt);
    const exitAt = nameEnd === -1 ? -1 : stdout.indexOf(tail, nameEnd);
    const codeAt = exitAt + tail.length;
    const codeEnd = exitAt === -1 ? -1 : stdout.indexOf("\n", codeAt);
    if (codeEnd === -1) break;
    const code = stdout.slice(codeAt, codeEnd);
    const base64 = stdout.slice(nameEnd + 1, exitAt);
    const out = base64Text(base64);
    if (nameEnd === nameAt || !/^\d+$/.test(code) || out === undefined) continue;
    result.set(stdout.slice(nameAt, nameEnd), { out, code: Number(code) });
    at = codeEnd - 1;
  }
  return result;
}

const utf8 = new TextDecoder();
const BASE64 = /^[A-Za-z0-9+/=]*$/;

/**
 * The UTF-8 text that `base64` encodes, or undefined when it is not base64
 * (whitespace included, which `Uint8Array.fromBase64` would skip). Decoded
 * natively, not through node:buffer, whose decoder is JavaScript: a host's
 * facts are a few dozen such texts, and over a fleet V8 compiled node:buffer's
 * code for them.
 */
export function base64Text(base64: string): string | undefined {
  if (!BASE64.test(base64)) return undefined;
  try {
    return utf8.decode(Uint8Array.fromBase64(base64));
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

/** What a run reads from a host: one script, and how to read its output into Facts. */
export interface FactsQuery {
  readonly script: string;
  read(exec: Executor, result: { code: number; stdout: string; stderr?: string }): Facts;
}

export function factsQuery(probes: readonly FactProbe[], files: readonly string[]): FactsQuery {
  const hashProbe = fileHashesProbe([...new Set(files)]);
  const unique = [...new Map(probes.map((p) => [p.name, p])).values()];
  const all = files.length ? [...unique, hashProbe] : unique;
  const { script, mark } = madeScript(all);
  return {
    script,
    read(exec, result) {
      if (result.code !== 0 && !result.stdout.includes(mark)) {
        throw new UserError(
          `Cannot read the state of ${exec.host}: ${
            result.stderr?.trim() || `exit code ${result.code}`
          }`,
          { hint: `The ssh user ${exec.sshUser} needs passwordless sudo (sudo -n).` },
        );
      }
      const facts = new Facts();
      const outputs = splitFactsOutput(result.stdout, mark);
      for (const p of all) {
        const o = outputs.get(p.name) ?? { out: "", code: 127 };
        facts.set(p, p.parse(o.out, o.code));
      }
      if (files.length) {
        for (const [path, hash] of facts.get(hashProbe)) facts.setFileHash(path, hash);
      }
      return facts;
    },
  };
}

/**
 * Facts scripts made in this process (one djaploy run), by their probes' names and commands: the
 * hosts of a run mostly read the same facts, and one script, with its mark, serves them all; each
 * host's output is still read by its own probes' parsers. Made per host, the script and its
 * quoting were a few tenths of a millisecond of each host's CPU (docs/benchmarks.md, "A run's
 * scripts made and quoted once"). A mark shared by the hosts of a run protects as much as one per
 * host: what a probe prints travels in base64, which cannot hold a mark, and each host's process
 * list shows its own mark anyway.
 */
const madeScripts = new RunTable<string, { readonly script: string; readonly mark: string }>(16);

function madeScript(probes: readonly FactProbe[]): { script: string; mark: string } {
  return madeScripts.get(JSON.stringify(probes.map((p) => [p.name, p.argv])), () => {
    const mark = marker("fact");
    return { script: factsScript(probes, mark), mark };
  });
}

/** Reads the facts in one round trip, as root. */
export async function gatherFacts(
  exec: Executor,
  probes: readonly FactProbe[],
  files: readonly string[],
): Promise<Facts> {
  const query = factsQuery(probes, files);
  const result = await exec.run({
    argv: shScript(query.script),
    as: "root",
    readOnly: true,
    okCodes: [0, 1],
  });
  return query.read(exec, result);
}
