/**
 * What people see. On a terminal: each host's steps as they finish, with
 * durations. Elsewhere (cron, CI): the same as plain lines, no colour and no
 * other control code. With --json (events), stdout carries only one JSON
 * event per line and the lines for people go to stderr.
 * Every line goes through the secret mask.
 */
import { maskSecrets } from "../secrets/secret.ts";
import type { LiveStatus } from "./live_status.ts";
import { flushStdout, writeStdout, writeStdoutNow } from "./stdout.ts";

export type Verbosity = "quiet" | "normal" | "verbose";

export interface UiOptions {
  readonly verbosity: Verbosity;
  /** Colour on stdout's lines (a terminal, and NO_COLOR unset: see colorWanted). */
  readonly color: boolean;
  /** Colour on stderr's lines (warnings, errors); default: as `color`. */
  readonly errColor?: boolean;
  /** Machine output: stdout carries only events (one JSON object a line); lines go to stderr. */
  readonly events?: boolean;
  /** On a terminal: a line per running host below the output (lib/output/live_status.ts). */
  readonly live?: LiveStatus;
  readonly write?: (text: string) => void;
  readonly writeErr?: (text: string) => void;
}

/**
 * One line of `--json` output: what happened to a host (or the run, for "summary"; a failed
 * after_* hook; a host waiting for another run's deploy lock, "lock_wait").
 */
export interface UiEvent {
  readonly event: "step" | "host" | "summary" | "hook" | "lock_wait";
  readonly [key: string]: unknown;
}

/**
 * Whether a stream gets colour: only a terminal, and not when NO_COLOR is set
 * to anything but "" (no-color.org) or TERM is "dumb".
 */
export function colorWanted(isTerminal: boolean, env: (name: string) => string | undefined) {
  return isTerminal && !env("NO_COLOR") && env("TERM") !== "dumb";
}

const encoder = new TextEncoder();

export class Ui {
  readonly verbosity: Verbosity;
  readonly color: boolean;
  readonly events: boolean;
  readonly live?: LiveStatus;
  readonly #errColor: boolean;
  readonly #secrets = new Set<string>();
  readonly #write: (text: string) => void;
  readonly #writeErr: (text: string) => void;
  /** Where lines for people go: stdout, or stderr when stdout carries events. */
  readonly #writeLine: (text: string) => void;
  /** Warnings and errors: stderr, around the live status when there is one. */
  readonly #writeWarn: (text: string) => void;

  constructor(opts: UiOptions) {
    this.verbosity = opts.verbosity;
    this.events = opts.events ?? false;
    this.#errColor = opts.errColor ?? opts.color;
    // With events, lines for people share stderr: stdout's colour does not apply.
    this.color = this.events ? this.#errColor : opts.color;
    // A task's lines in one write (lib/output/stdout.ts); the live status redraws around each
    // line as it is written, so with it every line goes out at once.
    this.#write = opts.write ?? (opts.live ? writeStdoutNow : writeStdout);
    this.#writeErr = opts.writeErr ?? ((t) => {
      flushStdout(); // what was written before it comes before it
      Deno.stderr.writeSync(encoder.encode(t));
    });
    this.#writeLine = this.events ? this.#writeErr : this.#write;
    this.#writeWarn = this.#writeErr;
    this.live = this.events ? undefined : opts.live;
    if (this.live) {
      this.#writeLine = this.live.around(this.#writeLine);
      this.#writeWarn = this.live.around(this.#writeErr);
    }
  }

  /** The same output and secret mask, another verbosity. */
  withVerbosity(verbosity: Verbosity): Ui {
    return this.#copy({ verbosity });
  }

  /** The same, with stdout for events only (`--json`). */
  withEvents(): Ui {
    return this.#copy({ events: true });
  }

  #copy(change: Partial<UiOptions>): Ui {
    const ui = new Ui({
      verbosity: this.verbosity,
      color: this.color,
      errColor: this.#errColor,
      events: this.events,
      live: this.live,
      write: this.#write,
      writeErr: this.#writeErr,
      ...change,
    });
    for (const s of this.#secrets) ui.addSecret(s);
    return ui;
  }

  /** Writes an event as one JSON line on stdout (only with events; strings masked). */
  event(e: UiEvent): void {
    if (!this.events) return;
    const text = JSON.stringify(e, (_k, v) => (typeof v === "string" ? this.mask(v) : v));
    this.#write(text + "\n");
  }

  /** Values that must never be printed. */
  addSecret(value: string): void {
    if (value) this.#secrets.add(value);
  }

  mask(text: string): string {
    return maskSecrets(text, this.#secrets);
  }

  /** A line of normal output (suppressed by --quiet). */
  line(text = ""): void {
    if (this.verbosity !== "quiet") this.#writeLine(this.mask(text) + "\n");
  }

  /** A line that shows even with --quiet (results, summaries of change). */
  result(text: string): void {
    this.#writeLine(this.mask(text) + "\n");
  }

  debug(text: string): void {
    if (this.verbosity === "verbose") this.#writeLine(this.dim(this.mask(text)) + "\n");
  }

  warn(text: string): void {
    this.#writeWarn(this.#paintErr("33", `warning: ${this.mask(text)}`) + "\n");
  }

  error(text: string): void {
    this.#writeWarn(this.#paintErr("31", this.mask(text)) + "\n");
  }

  #paintErr(code: string, text: string): string {
    return this.#errColor ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  paint(code: string, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  dim(text: string): string {
    return this.paint("2", text);
  }
  green(text: string): string {
    return this.paint("32", text);
  }
  red(text: string): string {
    return this.paint("31", text);
  }
  bold(text: string): string {
    return this.paint("1", text);
  }
}

export { formatMs } from "./live_status.ts";

/** Pads table rows into aligned columns. */
export function table(rows: readonly (readonly string[])[]): string[] {
  // deno-lint-ignore no-control-regex
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, strip(c).length)));
  }
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i] - strip(c).length))).join(
      "  ",
    )
  );
}
