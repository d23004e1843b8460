/**
 * SIGINT and SIGTERM during a run that changes hosts (deploy, configure,
 * activate, rollback). The first signal stops the run between steps: no new
 * step starts, the steps running on hosts finish, the locks are given back,
 * connections and their control folder are closed, and djaploy exits 130
 * (SIGINT) or 143 (SIGTERM). A second signal ends the running ssh and rsync
 * processes too (a faster stop; the remote commands themselves run to their
 * end, and what djaploy writes afterwards still says what happened). cli.ts
 * owns the listeners and is the only place that exits.
 */
import { UserError } from "../errors.ts";

export type StopSignal = "SIGINT" | "SIGTERM";

export const STOP_SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM"];

/** What a run is told about signals, read by the session and the runner. */
export interface Interrupt {
  /** Aborted at the first signal: no new step, batch or stage starts. */
  readonly stop: AbortSignal;
  /** Aborted at the second: running ssh and rsync processes are ended. */
  readonly force: AbortSignal;
  /** The first signal received, if any. */
  readonly received: StopSignal | undefined;
}

/** The shell's convention: 128 + the signal's number. */
export function exitCodeFor(signal: StopSignal): 130 | 143 {
  return signal === "SIGINT" ? 130 : 143;
}

/** An Interrupt driven by `signal(name)` calls: cli.ts feeds it from Deno's signal listeners. */
export class InterruptController implements Interrupt {
  readonly #stop = new AbortController();
  readonly #force = new AbortController();
  #received: StopSignal | undefined;
  #count = 0;

  get stop(): AbortSignal {
    return this.#stop.signal;
  }

  get force(): AbortSignal {
    return this.#force.signal;
  }

  get received(): StopSignal | undefined {
    return this.#received;
  }

  /** Records a signal; returns how many were received so far (1: stop, 2: force). */
  signal(name: StopSignal): number {
    this.#count++;
    this.#received ??= name;
    const reason = new StoppedError(this.#received);
    if (this.#count === 1) this.#stop.abort(reason);
    else this.#force.abort(reason);
    return this.#count;
  }
}

/** An Interrupt that never fires (library callers and tests without signals). */
export const NO_INTERRUPT: Interrupt = {
  stop: new AbortController().signal,
  force: new AbortController().signal,
  received: undefined,
};

/** A run stopped by a signal: the step named did not start. */
export class StoppedError extends UserError {
  override readonly exitCode: number;
  readonly signal: StopSignal;
  constructor(signal: StopSignal, before?: string) {
    super(
      `Stopped${before ? ` before ${before}` : ""}: djaploy received ${signal}`,
      {
        hint: "Steps that had started ran to their end; the site serves what the last finished " +
          "step left live. Run the command again to finish.",
      },
    );
    this.name = "StoppedError";
    this.signal = signal;
    this.exitCode = exitCodeFor(signal);
  }
}

/** Throws a StoppedError naming `before` when `stop` was aborted. */
export function throwIfStopped(stop: AbortSignal | undefined, before: string): void {
  if (!stop?.aborted) return;
  const reason = stop.reason;
  throw new StoppedError(reason instanceof StoppedError ? reason.signal : "SIGINT", before);
}

/** Signal listeners for one command run; `dispose` removes them. */
export interface StopListener {
  readonly interrupt: Interrupt;
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM: the first stops the run between steps,
 * the second ends running processes, a third calls `exitNow` (cli.ts passes
 * Deno.exit: the only place that exits). `say` tells the person what happens.
 */
export function listenForStop(
  say: (message: string) => void,
  exitNow: (code: number) => void,
): StopListener {
  const controller = new InterruptController();
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = () => {
      const count = controller.signal(name);
      const code = exitCodeFor(controller.received!);
      if (count === 1) {
        say(
          `${name}: stopping once the running steps finish (no new step starts); ` +
            `${name} again ends the running ssh commands now`,
        );
      } else if (count === 2) {
        say(`${name}: ending the running ssh and rsync commands; once more exits at once`);
      } else {
        exitNow(code);
      }
    };
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  return {
    interrupt: controller,
    dispose() {
      for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
    },
  };
}
