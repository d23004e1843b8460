/**
 * Errors a user can act on. cli.ts prints their message (and hint) without a
 * stack and exits with `exitCode`; any other error is a bug and shows its stack.
 */

/**
 * An error the user can act on: cli.ts prints its message and hint, no stack, and exits with
 * `exitCode`.
 */
export class UserError extends Error {
  /** The exit code cli.ts ends with: 1, or 2 for usage and config errors. */
  readonly exitCode: number = 1;
  /** What to do about it, printed below the message. */
  readonly hint?: string;
  /** `message`: what to do first, then the state after a colon. */
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UserError";
    this.hint = options?.hint;
  }
}

/** A bad flag or argument: exit code 2. */
export class UsageError extends UserError {
  /** Usage errors exit with 2. */
  override readonly exitCode = 2;
  /** `message`: what to do first, then the state after a colon. */
  constructor(message: string, options?: { hint?: string }) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** A bad configuration file or value: exit code 2. The message names file, line, key. */
export class ConfigError extends UserError {
  /** Config errors exit with 2. */
  override readonly exitCode = 2;
  /** `message`: file:line, key, what was found and what is allowed. */
  constructor(message: string, options?: { hint?: string }) {
    super(message, options);
    this.name = "ConfigError";
  }
}

const EXIT_MEANINGS: Record<number, string> = {
  1: "general error",
  2: "misuse or bad arguments",
  126: "command not executable",
  127: "command not found",
  130: "interrupted",
  137: "killed",
  143: "terminated",
  255: "ssh could not connect or the connection was lost",
};

export function exitCodeMeaning(code: number): string {
  return EXIT_MEANINGS[code] ?? "failed";
}

/** A command that failed on a host (or locally), with what a person needs to act. */
export class CommandError extends UserError {
  /** The host it ran on (inventory `name`). */
  readonly host: string;
  /** The command line, secrets masked. */
  readonly command: string;
  /** Its exit code. */
  readonly code: number;
  /** Its error output, secrets masked. */
  readonly stderr: string;
  /**
   * Builds the message from the host, command, exit code (with its meaning) and the last lines of
   * stderr.
   */
  constructor(
    opts: { host: string; command: string; code: number; stderr: string; hint?: string },
  ) {
    const tail = lastLines(opts.stderr, 8);
    super(
      `Command failed on ${opts.host} with exit code ${opts.code} (${
        exitCodeMeaning(opts.code)
      }): ${opts.command}` +
        (tail ? `\n${indent(tail)}` : ""),
      { hint: opts.hint },
    );
    this.name = "CommandError";
    this.host = opts.host;
    this.command = opts.command;
    this.code = opts.code;
    this.stderr = opts.stderr;
  }
}

export function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-n).join("\n");
}

function indent(text: string): string {
  return text.split("\n").map((l) => `  | ${l}`).join("\n");
}

/** A found value as shown in a message: JSON-quoted, control characters (DEL included) escaped. */
export function shown(value: string): string {
  return JSON.stringify(value).replaceAll("\x7f", "\\u007f");
}
