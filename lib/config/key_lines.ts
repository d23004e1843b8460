/**
 * Finds the line where a key is written in TOML source, for error messages.
 * Best effort: it reads table headers (`[gunicorn]`, the n-th `[[hosts]]`)
 * and `key =` lines outside strings and multi-line values; a key inside an
 * inline table or array maps to the line of the key that holds it.
 */
import type { PathSegment } from "./validators.ts";

export type KeyLines = ReadonlyMap<string, number>;

/** Maps each key path written in `source` (tables, array-of-table items, keys) to its 1-based line. */
export function keyLines(source: string): KeyLines {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  const record = (path: PathSegment[], line: number) => {
    const k = pathKey(path);
    if (!lines.has(k)) lines.set(k, line);
  };
  const resolve = (parts: string[]): PathSegment[] => {
    const path: PathSegment[] = [];
    for (const part of parts) {
      path.push(part);
      const n = arrayCounts.get(pathKey(path));
      if (n !== undefined) path.push(n);
    }
    return path;
  };

  let context: PathSegment[] = [];
  const state: ScanState = { quote: undefined, depth: 0 };
  source.split(/\r?\n/).forEach((text, i) => {
    const lineNo = i + 1;
    if (state.quote !== undefined || state.depth > 0) {
      scan(text, 0, state);
      return;
    }
    const trimmed = text.trimStart();
    if (trimmed.startsWith("[[")) {
      const end = trimmed.indexOf("]]");
      if (end < 0) return;
      const parts = splitKey(trimmed.slice(2, end));
      const parent = resolve(parts.slice(0, -1));
      const arrayPath = [...parent, parts[parts.length - 1]];
      const index = (arrayCounts.get(pathKey(arrayPath)) ?? -1) + 1;
      arrayCounts.set(pathKey(arrayPath), index);
      record(arrayPath, lineNo);
      context = [...arrayPath, index];
      record(context, lineNo);
    } else if (trimmed.startsWith("[")) {
      const end = trimmed.indexOf("]");
      if (end < 0) return;
      context = resolve(splitKey(trimmed.slice(1, end)));
      for (let n = 1; n <= context.length; n++) record(context.slice(0, n), lineNo);
    } else if (trimmed !== "" && !trimmed.startsWith("#")) {
      const eq = findEquals(trimmed);
      if (eq < 0) return;
      const parts = splitKey(trimmed.slice(0, eq));
      for (let n = 1; n <= parts.length; n++) record([...context, ...parts.slice(0, n)], lineNo);
      scan(trimmed, eq + 1, state);
    }
  });
  return lines;
}

/** The line of `path`, or of the nearest enclosing key that is written, or undefined. */
export function lineOf(lines: KeyLines, path: readonly PathSegment[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(pathKey(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}

function pathKey(path: readonly PathSegment[]): string {
  return path.map(String).join("\u0000");
}

interface ScanState {
  /** The open multi-line string delimiter, if a line ended inside one. */
  quote: '"""' | "'''" | undefined;
  /** Open `[` and `{` of a value that spans lines. */
  depth: number;
}

/** Follows strings, comments and brackets through one line of a value. */
function scan(text: string, from: number, state: ScanState): void {
  let i = from;
  while (i < text.length) {
    if (state.quote !== undefined) {
      const end = text.indexOf(state.quote, i);
      if (end < 0) return;
      state.quote = undefined;
      i = end + 3;
      continue;
    }
    const c = text[i];
    if (c === "#") return;
    if (text.startsWith('"""', i) || text.startsWith("'''", i)) {
      state.quote = text.slice(i, i + 3) as '"""' | "'''";
      i += 3;
    } else if (c === '"' || c === "'") {
      i = skipString(text, i);
    } else {
      if (c === "[" || c === "{") state.depth++;
      if ((c === "]" || c === "}") && state.depth > 0) state.depth--;
      i++;
    }
  }
}

/** The index after the single-line string that starts at `start`. */
function skipString(text: string, start: number): number {
  const q = text[start];
  let i = start + 1;
  while (i < text.length && text[i] !== q) i += q === '"' && text[i] === "\\" ? 2 : 1;
  return i + 1;
}

function findEquals(text: string): number {
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") i = skipString(text, i);
    else if (c === "=") return i;
    else i++;
  }
  return -1;
}

/** Splits a dotted key (`a."b.c".d`) into its parts, unquoted. */
function splitKey(text: string): string[] {
  const parts: string[] = [];
  let i = 0;
  let current = "";
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = skipString(text, i);
      const raw = text.slice(i, end);
      current += c === '"' ? safeJson(raw) : raw.slice(1, -1);
      i = end;
    } else if (c === ".") {
      parts.push(current.trim());
      current = "";
      i++;
    } else {
      current += c;
      i++;
    }
  }
  parts.push(current.trim());
  return parts;
}

function safeJson(raw: string): string {
  try {
    return JSON.parse(raw);
  } catch {
    return raw.slice(1, -1);
  }
}
