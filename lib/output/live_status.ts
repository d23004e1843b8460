/**
 * On a terminal only: below the lines of finished steps, one line per host
 * still running (its current step and how long it has run), redrawn every
 * second and around every other line written. Without a terminal nothing of
 * this exists, so plain output never carries cursor codes.
 */
/** A duration for people: `850ms`, `12.3s`. (Here, not in ui.ts, which imports this file.) */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

interface Running {
  step: string;
  since: number;
}

export interface LiveStatusOptions {
  /** Writes to the terminal (stdout). */
  readonly write: (text: string) => void;
  /** The terminal's size; lines are cut to its width, the block to its height. */
  readonly size?: () => { columns: number; rows: number };
  readonly now?: () => number;
  /** Redraw period (ms); 0: only when something changes (tests). */
  readonly everyMs?: number;
}

export class LiveStatus {
  readonly #hosts = new Map<string, Running>();
  readonly #write: (text: string) => void;
  readonly #size: () => { columns: number; rows: number };
  readonly #now: () => number;
  readonly #everyMs: number;
  #drawn = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: LiveStatusOptions) {
    this.#write = opts.write;
    this.#size = opts.size ?? terminalSize;
    this.#now = opts.now ?? (() => performance.now());
    this.#everyMs = opts.everyMs ?? 1000;
  }

  /** The host now runs this step. */
  step(host: string, step: string): void {
    this.#hosts.set(host, { step, since: this.#now() });
    if (this.#everyMs > 0 && this.#timer === undefined) {
      const timer = setInterval(() => this.#write(this.#redraw()), this.#everyMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
    this.#write(this.#redraw());
  }

  /** The host finished (or failed): its line goes. */
  done(host: string): void {
    if (!this.#hosts.delete(host)) return;
    if (this.#hosts.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    this.#write(this.#redraw());
  }

  /** Wraps a writer: the block is erased before the text and drawn again after it. */
  around(write: (text: string) => void): (text: string) => void {
    return (text) => {
      if (this.#drawn === 0 && this.#hosts.size === 0) return write(text);
      // stdout and stderr share the terminal: the block is on it whichever the text goes to.
      this.#write(this.#erase());
      write(text);
      this.#write(this.#draw());
    };
  }

  #redraw(): string {
    return this.#erase() + this.#draw();
  }

  #erase(): string {
    const n = this.#drawn;
    this.#drawn = 0;
    return n ? `\x1b[${n}A\x1b[J` : "";
  }

  #draw(): string {
    if (this.#hosts.size === 0) return "";
    const { columns, rows } = this.#size();
    const room = Math.max(1, rows - 2);
    const entries = [...this.#hosts];
    const shown = entries.length > room ? entries.slice(0, room - 1) : entries;
    const width = Math.max(...shown.map(([h]) => h.length));
    const now = this.#now();
    const lines = shown.map(([host, r]) =>
      `${host.padEnd(width)}  ...      ${r.step}  ${formatMs(now - r.since)}`
    );
    if (shown.length < entries.length) lines.push(`... and ${entries.length - shown.length} more`);
    this.#drawn = lines.length;
    return lines.map((l) => l.slice(0, Math.max(10, columns - 1)) + "\n").join("");
  }
}

function terminalSize(): { columns: number; rows: number } {
  try {
    const size = Deno.consoleSize();
    // A pseudo-terminal may not know its size (0 x 0).
    if (size.columns > 0 && size.rows > 0) return size;
  } catch {
    // not a terminal after all
  }
  return { columns: 80, rows: 24 };
}
