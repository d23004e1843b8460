/**
 * The one place where argv becomes shell text. Remote commands are argv
 * arrays everywhere else; ssh needs a single string, and this is it. rsync's
 * `-e` is split by rsync itself, which knows single and double quotes but not
 * backslashes (a quote inside single quotes is doubled): that is the "rsync"
 * dialect, so ssh and rsync's ssh get the very same arguments.
 */

export type Dialect = "sh" | "rsync";

const SAFE = /^[A-Za-z0-9_\/.,:=+@%^-]+$/;

/** Quotes one argument for a POSIX shell. */
export function quote(arg: string): string {
  return quoteAs("sh", arg);
}

/** Quotes one argument for a POSIX shell or for rsync's `-e`: the same rule, two escapes. */
export function quoteAs(dialect: Dialect, arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  if (dialect === "rsync") return `'${arg.replaceAll("'", "''")}'`;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Renders an argv array as one POSIX shell command line (or rsync `-e` value). */
export function render(argv: readonly string[], dialect: Dialect = "sh"): string {
  return argv.map((a) => quoteAs(dialect, a)).join(" ");
}
