/**
 * The one place where argv becomes shell text. Remote commands are argv
 * arrays everywhere else; ssh needs a single string, and this is it.
 */

const SAFE = /^[A-Za-z0-9_\/.,:=+@%^-]+$/;

/** Quotes one argument for a POSIX shell. */
export function quote(arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Renders an argv array as one POSIX shell command line. */
export function render(argv: readonly string[]): string {
  return argv.map(quote).join(" ");
}
