/**
 * djaploy's standard output, written a task's worth at a time. Over a fleet
 * each host prints a line per step, and the steps that find nothing to do
 * end one after another within one task of the event loop: a write each was
 * a system call and a trip through Deno's write op each, about 20 per host
 * on a redeploy. What is written within a task goes out in one write once
 * the task's work is done (setImmediate: at the end of this turn of the
 * event loop), and before anything else can reach the same terminal or
 * file: a line on stderr (Ui's warnings and errors), a process that
 * inherits stdout (lib/exec/process.ts), and the process's end (Deno.exit
 * dispatches "unload"). Not a zero-delay timer: that one waits a
 * millisecond or more, and djaploy, with nothing else to do, would sleep
 * and wake up again for it, a wake-up more per host and step burst
 * (docs/benchmarks.md, "What a wait costs").
 */
import { clearImmediate, setImmediate } from "node:timers";

const encoder = new TextEncoder();
let pending = "";
let immediate: ReturnType<typeof setImmediate> | undefined;

/** Queues `text` for stdout: it goes out at the end of this task, or sooner (flushStdout). */
export function writeStdout(text: string): void {
  pending += text;
  immediate ??= setImmediate(flushStdout);
}

/** Writes what is queued for stdout now. */
export function flushStdout(): void {
  if (immediate !== undefined) {
    clearImmediate(immediate);
    immediate = undefined;
  }
  if (pending === "") return;
  const text = pending;
  pending = "";
  writeAll(text);
}

/**
 * Writes `text` to stdout at once, after what is queued: for output that
 * must appear as it is written (the live status on a terminal redraws
 * around each line).
 */
export function writeStdoutNow(text: string): void {
  flushStdout();
  writeAll(text);
}

function writeAll(text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

globalThis.addEventListener("unload", flushStdout);
