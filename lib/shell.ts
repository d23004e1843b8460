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
 * lock's, the facts'), which each host's command would otherwise copy and quote again
 * (docs/benchmarks.md, "A run's scripts made and quoted once"). A few at most; forgotten when full.
 */
const LONG = 1024;
const MAX_LONG = 16;
const quotedLong = { sh: new Map<string, string>(), rsync: new Map<string, string>() };

function quoteLong(dialect: Dialect, arg: string): string {
  const known = quotedLong[dialect];
  let quoted = known.get(arg);
  if (quoted === undefined) {
    quoted = quoteText(dialect, arg);
    if (known.size >= MAX_LONG) known.clear();
    known.set(arg, quoted);
  }
  return quoted;
}

/** Renders an argv array as one POSIX shell command line (or rsync `-e` value). */
export function render(argv: readonly string[], dialect: Dialect = "sh"): string {
  return argv.map((a) => quoteAs(dialect, a)).join(" ");
}
