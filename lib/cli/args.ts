/**
 * Command-line parsing from declarative command definitions (which also
 * produce the help text). Unknown flags and missing values are usage errors
 * that say what is allowed.
 */
import { shown, UsageError } from "../errors.ts";
import { editDistance } from "../config/did_you_mean.ts";

export { editDistance };

export interface FlagDef {
  readonly name: string;
  readonly short?: string;
  readonly type: "boolean" | "string" | "number";
  readonly description: string;
  readonly valueName?: string;
}

export interface CommandDef {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  readonly flags: readonly FlagDef[];
  /** Names of positional arguments, for help. */
  readonly args?: string;
}

export type Flags = Record<string, string | number | boolean | undefined>;

/** The value a flag of `type` parses to. */
export type FlagValue<T extends FlagDef["type"]> = T extends "boolean" ? true
  : T extends "number" ? number
  : string;

/**
 * The parsed flags of a list of flag definitions, each typed by its own
 * definition: `{ limit?: number; json?: true }`. Definitions declared
 * `as const` keep their names; a plain `FlagDef` adds an index signature.
 */
export type FlagsOf<Fs extends readonly FlagDef[]> = {
  readonly [F in Fs[number] as F["name"]]?: FlagValue<F["type"]>;
};

/** What parseArgs returns for a command: flags typed by its definition. */
export type ParsedFor<D extends CommandDef> = Parsed<FlagsOf<D["flags"]>>;

export interface Parsed<F = Flags> {
  readonly flags: F;
  readonly positional: string[];
  /** Arguments after a bare `--`. */
  readonly rest: string[];
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * The names in a `--hosts A,B` (or `--host A`) value. Given but naming no host
 * (`--hosts=`, `--hosts ,`, `--hosts " "`) is a usage error: an unset shell
 * variable must not select every host, or none.
 */
export function hostList(value: string, flag = "hosts"): string[] {
  const names = value.split(",").map((h) => h.trim());
  if (names.every((n) => n === "")) {
    throw new UsageError(`--${flag} names no host: got ${JSON.stringify(value)}`, {
      hint: `Give host names separated by commas (--${flag} web1,web2), or leave --${flag} out ` +
        "for every host of the environment.",
    });
  }
  const empty = names.indexOf("");
  if (empty !== -1) {
    throw new UsageError(
      `--${flag} has an empty name at position ${empty + 1}: got ${JSON.stringify(value)}`,
      { hint: `Give host names separated by single commas (--${flag} web1,web2).` },
    );
  }
  return names;
}

/**
 * Parses `argv` by `def`. Each flag's value has its definition's type (the
 * parser checks it), so the result is typed by the definition: with a
 * definition declared `as const`, `flags.limit` is a number.
 */
export function parseArgs<const D extends CommandDef>(
  argv: readonly string[],
  def: D,
): ParsedFor<D> {
  const flags: Flags = {};
  // Every value is set by its definition's type below: the one place the
  // result takes the definition's types.
  const typed = (p: Parsed) => p as unknown as ParsedFor<D>;
  const positional: string[] = [];
  const byName = new Map(def.flags.map((f) => [f.name, f]));
  const byShort = new Map(def.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const nul = argv.find((a) => a.includes("\0"));
  if (nul !== undefined) {
    throw new UsageError(`Arguments must not contain a NUL byte: got ${shown(nul)}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") return typed({ flags, positional, rest: argv.slice(i + 1) });
    let flag: FlagDef | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const [name, value] = arg.slice(2).split(/=(.*)/s, 2);
      flag = byName.get(name);
      inline = value;
      if (!flag) throw unknownFlag(`--${name}`, def);
    } else if (arg.startsWith("-") && arg.length > 1) {
      flag = byShort.get(arg.slice(1));
      if (!flag) throw unknownFlag(arg, def);
    } else {
      positional.push(arg);
      continue;
    }
    if (flag.type === "boolean") {
      if (inline !== undefined) {
        throw new UsageError(`--${flag.name} takes no value: got "${inline}"`);
      }
      flags[flag.name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (
      value === undefined || (inline === undefined && value.startsWith("-") && value.length > 1)
    ) {
      throw new UsageError(`--${flag.name} needs a value: ${flag.valueName ?? flag.type}`);
    }
    if (CONTROL.test(value)) {
      throw new UsageError(
        `--${flag.name} must not contain control characters (newline, NUL, ...): got ${
          shown(value)
        }`,
      );
    }
    if (flag.type === "number") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) {
        throw new UsageError(`--${flag.name} must be a whole number of 1 or more: got "${value}"`);
      }
      flags[flag.name] = n;
    } else {
      flags[flag.name] = value;
    }
  }
  return typed({ flags, positional, rest: [] });
}

function unknownFlag(flag: string, def: CommandDef): UsageError {
  const known = def.flags.map((f) => `--${f.name}`);
  const near = known.find((k) => editDistance(k, flag) <= 2);
  return new UsageError(
    `Unknown option ${flag} for "djaploy ${def.name}"${near ? ` (did you mean ${near}?)` : ""}`,
    { hint: `See: djaploy ${def.name} --help` },
  );
}

export function commandHelp(def: CommandDef): string {
  const lines = [
    `Usage: djaploy ${def.name} [options]${def.args ? ` ${def.args}` : ""}`,
    "",
    def.summary,
    "",
  ];
  if (def.aliases?.length) lines.push(`Aliases: ${def.aliases.join(", ")}`, "");
  lines.push("Options:");
  const rows = def.flags.map((f) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${
      f.type === "boolean" ? "" : ` ${f.valueName ?? f.type.toUpperCase()}`
    }`;
    return [left, f.description];
  });
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(w)}  ${r}`);
  return lines.join("\n");
}
