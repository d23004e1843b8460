/** Config problems and how they become one ConfigError naming file, line and key path. */
import { ConfigError } from "../errors.ts";
import { keyLines, lineOf } from "./key_lines.ts";
import type { PathSegment } from "./validators.ts";

export interface ConfigProblem {
  /** The key path shown in the message; empty for the file as a whole. */
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** The key path whose line is shown, when it differs from `path`. */
  readonly linePath?: readonly PathSegment[];
}

/** `hosts[0].env.DEBUG`, quoting keys that are not bare TOML keys. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = /^[A-Za-z0-9_-]+$/.test(seg) ? seg : JSON.stringify(seg);
      out += out === "" ? key : `.${key}`;
    }
  }
  return out;
}

/** One line per problem: `file:line: key.path: message` (the line when it can be found). */
export function formatProblems(
  problems: readonly ConfigProblem[],
  file: string,
  source: string,
): string[] {
  const lines = keyLines(source);
  return problems.map((p) => {
    const line = lineOf(lines, p.linePath ?? p.path);
    const where = line === undefined ? file : `${file}:${line}`;
    const path = formatPath(p.path);
    return `${where}: ${path === "" ? "" : `${path}: `}${p.message}`;
  });
}

/** Throws a ConfigError listing every problem, one per line; does nothing when there are none. */
export function throwProblems(
  problems: readonly ConfigProblem[],
  file: string,
  source: string,
): void {
  if (problems.length === 0) return;
  throw new ConfigError(formatProblems(problems, file, source).join("\n"));
}
