/**
 * What people see. On a terminal: each host's steps as they finish, with
 * durations. Elsewhere (cron, CI): the same as plain lines, no colour.
 * Every line goes through the secret mask.
 */
import { maskSecrets } from "./secret.ts";

export type Verbosity = "quiet" | "normal" | "verbose";

export interface UiOptions {
  readonly verbosity: Verbosity;
  readonly color: boolean;
  readonly write?: (text: string) => void;
  readonly writeErr?: (text: string) => void;
}

const encoder = new TextEncoder();

export class Ui {
  readonly verbosity: Verbosity;
  readonly color: boolean;
  readonly #secrets = new Set<string>();
  readonly #write: (text: string) => void;
  readonly #writeErr: (text: string) => void;

  constructor(opts: UiOptions) {
    this.verbosity = opts.verbosity;
    this.color = opts.color;
    this.#write = opts.write ?? ((t) => Deno.stdout.writeSync(encoder.encode(t)));
    this.#writeErr = opts.writeErr ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
  }

  /** The same output and secret mask, another verbosity. */
  withVerbosity(verbosity: Verbosity): Ui {
    const ui = new Ui({
      verbosity,
      color: this.color,
      write: this.#write,
      writeErr: this.#writeErr,
    });
    for (const s of this.#secrets) ui.addSecret(s);
    return ui;
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
    if (this.verbosity !== "quiet") this.#write(this.mask(text) + "\n");
  }

  /** A line that shows even with --quiet (results, summaries of change). */
  result(text: string): void {
    this.#write(this.mask(text) + "\n");
  }

  debug(text: string): void {
    if (this.verbosity === "verbose") this.#write(this.dim(this.mask(text)) + "\n");
  }

  warn(text: string): void {
    this.#writeErr(this.paint("33", `warning: ${this.mask(text)}`) + "\n");
  }

  error(text: string): void {
    this.#writeErr(this.paint("31", this.mask(text)) + "\n");
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

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

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
