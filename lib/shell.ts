/**
 * The one place where argv becomes shell text. Remote commands are argv
 * arrays everywhere else; ssh needs a single string, and this is it. rsync's
 * `-e` is split by rsync itself, which knows single and double quotes but not
 * backslashes (a quote inside single quotes is doubled): that is the "rsync"
 * dialect, so ssh and rsync's ssh get the very same arguments.
 */

import { RunTable } from "./run_table.ts";

/** The quoting of a POSIX shell, or of rsync's `-e` (a quote inside single quotes doubled). */
export type Dialect = "sh" | "rsync";

const SAFE = /^[A-Za-z0-9_\/.,:=+@%^-]+$/;

/** Quotes one argument for a POSIX shell. */
export function quote(arg: string): string {
  return quoteAs("sh", arg);
}

/** Quotes one argument for a POSIX shell or for rsync's `-e`: the same rule, two escapes. */
export function quoteAs(dialect: Dialect, arg: string): string {
  if (arg === "") return "''";
  if (arg.length >= LONG) return quoteLong(dialect, arg);
  return quoteText(dialect, arg);
}

function quoteText(dialect: Dialect, arg: string): string {
  if (SAFE.test(arg)) return arg;
  if (dialect === "rsync") return `'${arg.replaceAll("'", "''")}'`;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Long arguments quoted before, by dialect: scripts sent to every host of a run (the deploy
 * lock's, the facts'), which each host's command would otherwise copy and quote again.
 */
const LONG = 1024;
const quotedLong = {
  sh: new RunTable<string, string>(16),
  rsync: new RunTable<string, string>(16),
};

function quoteLong(dialect: Dialect, arg: string): string {
  return quotedLong[dialect].get(arg, () => quoteText(dialect, arg));
}

/** Renders an argv array as one POSIX shell command line (or rsync `-e` value). */
export function render(argv: readonly string[], dialect: Dialect = "sh"): string {
  return argv.map((a) => quoteAs(dialect, a)).join(" ");
}
