/**
 * Small value checkers for config keys. Each takes a parsed TOML value and
 * returns it (possibly normalized) or throws `Invalid` with what was wrong;
 * the loader adds the file, line and key path.
 */
import { shown } from "../errors.ts";
import { suggestion } from "./did_you_mean.ts";

/** One step of a key path: a key or an array index. */
export type PathSegment = string | number;

/** A value that breaks a rule: `problem` reads "must be ...: got ...". */
export class Invalid extends Error {
  readonly problem: string;
  /** Where inside the value the problem is, e.g. `[2]` for an array item. */
  readonly at: readonly PathSegment[];
  constructor(problem: string, at: readonly PathSegment[] = []) {
    super(problem);
    this.name = "Invalid";
    this.problem = problem;
    this.at = at;
  }
}

export type Check<T> = (value: unknown) => T;

/** What a check may need besides the value. */
export interface ParseContext {
  /** The repository root: relative module paths resolve against it, whichever file lists them. */
  readonly baseDir: string;
  /** The home folder for `~` in paths (called only when a path starts with `~`). */
  readonly home: () => string | undefined;
}

/** True for a TOML table (not an array, not a date). */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** How a found value is shown after "got": strings quoted, tables and long arrays by kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return shown(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (Array.isArray(value)) {
    const text = `[${value.map(describe).join(", ")}]`;
    return text.length <= 60 ? text : `an array of ${value.length} items`;
  }
  if (isTable(value)) return "a table";
  return String(value);
}

/** Formats a list of allowed strings: `"a", "b", "c"`. */
export function quoteList(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
// deno-lint-ignore no-control-regex
const CONTROL_BUT_LINES = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * Refuses control characters (newline, tab, NUL, escape, DEL, ...): config
 * strings end up in systemd units, nginx sites, INI and env files, where a
 * newline starts a new directive. With `lines`, newlines and tabs pass (for
 * text that only runs on this machine, such as [prepare] commands); NUL never.
 */
export function noControl(s: string, opts: { lines?: boolean } = {}): string {
  if ((opts.lines ? CONTROL_BUT_LINES : CONTROL).test(s)) {
    throw new Invalid(
      opts.lines
        ? "must be text without control characters other than newline and tab (NUL, escape, " +
          `DEL and the like): got ${describe(s)}`
        : "must be printable text, without control characters (newline, tab, NUL and the " +
          `like): got ${describe(s)}`,
    );
  }
  return s;
}

/** A string without control characters (see noControl); `lines` lets newlines and tabs in. */
export function string(opts: { lines?: boolean } = {}): Check<string> {
  return (value) => {
    if (typeof value !== "string") throw new Invalid(`must be a string: got ${describe(value)}`);
    return noControl(value, opts);
  };
}

/** Refuses control characters in every string of a free-form table (a custom module's). */
export function noControlDeep(value: unknown, at: PathSegment[] = []): void {
  if (typeof value === "string") {
    try {
      noControl(value, { lines: true });
    } catch (e) {
      if (e instanceof Invalid) throw new Invalid(e.problem, at);
      throw e;
    }
  } else if (Array.isArray(value)) value.forEach((v, i) => noControlDeep(v, [...at, i]));
  else if (isTable(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (CONTROL.test(k)) {
        throw new Invalid(`key must not contain control characters: got ${describe(k)}`, at);
      }
      noControlDeep(v, [...at, k]);
    }
  }
}

export function matching(pattern: RegExp): Check<string> {
  const isString = string();
  return (value) => {
    const s = isString(value);
    if (!pattern.test(s)) throw new Invalid(`must match ${pattern.source}: got ${describe(s)}`);
    return s;
  };
}

export function oneOf<T extends string>(allowed: readonly T[]): Check<T> {
  return (value) => {
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      throw new Invalid(`must be one of ${quoteList(allowed)}: got ${describe(value)}`);
    }
    return value as T;
  };
}

export function boolean(): Check<boolean> {
  return (value) => {
    if (typeof value !== "boolean") {
      throw new Invalid(`must be a boolean (true or false): got ${describe(value)}`);
    }
    return value;
  };
}

export function integer(range: { min?: number; max?: number } = {}): Check<number> {
  return (value) => {
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new Invalid(`must be an integer: got ${describe(value)}`);
    }
    const { min, max } = range;
    if (min !== undefined && max !== undefined && (value < min || value > max)) {
      throw new Invalid(`must be between ${min} and ${max}: got ${value}`);
    }
    if (min !== undefined && value < min) {
      throw new Invalid(`must be at least ${min}: got ${value}`);
    }
    return value;
  };
}

export function positiveNumber(): Check<number> {
  return (value) => {
    if (typeof value !== "number" || Number.isNaN(value)) {
      throw new Invalid(`must be a number: got ${describe(value)}`);
    }
    if (!(value > 0) || value === Infinity) {
      throw new Invalid(`must be greater than 0: got ${value}`);
    }
    return value;
  };
}

/** An array whose items pass `item`; an item's error carries its index. */
export function arrayOf<T>(item: Check<T>, what = "an array of strings"): Check<T[]> {
  return (value) => {
    if (!Array.isArray(value)) throw new Invalid(`must be ${what}: got ${describe(value)}`);
    return value.map((v, i) => {
      try {
        return item(v);
      } catch (e) {
        if (e instanceof Invalid) throw new Invalid(e.problem, [i, ...e.at]);
        throw e;
      }
    });
  };
}

/** Runs `check` and then `extra` on its result (for rules a pattern cannot say). */
export function refine<T>(check: Check<T>, extra: (value: T) => T): Check<T> {
  return (value) => extra(check(value));
}

/** How an entry of an array of tables reads its keys: each error names the entry and key. */
export interface EntryFields {
  field<T>(key: string, check: (v: unknown) => T): T | undefined;
  required<T>(key: string, check: (v: unknown) => T): T;
}

/**
 * Checks that entry `index` of an array of tables (`[[name]]`) is a table
 * with only the keys in `keys`, and returns readers for its values.
 */
export function tableEntry(
  value: unknown,
  index: number,
  o: { name: string; keys: readonly string[] },
): EntryFields {
  if (!isTable(value)) {
    throw new Invalid(`must be a table ([[${o.name}]]): got ${describe(value)}`, [index]);
  }
  for (const key of Object.keys(value)) {
    if (!o.keys.includes(key)) {
      throw new Invalid(`unknown key ${JSON.stringify(key)}${suggestion(key, o.keys)}`, [
        index,
        key,
      ]);
    }
  }
  const field = <T>(key: string, check: (v: unknown) => T): T | undefined => {
    if (value[key] === undefined) return undefined;
    try {
      return check(value[key]);
    } catch (e) {
      if (e instanceof Invalid) throw new Invalid(e.problem, [index, key, ...e.at]);
      throw e;
    }
  };
  const required = <T>(key: string, check: (v: unknown) => T): T => {
    if (value[key] === undefined) throw new Invalid("is required", [index, key]);
    return field(key, check)!;
  };
  return { field, required };
}
