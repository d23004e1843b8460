/**
 * The flags of deno.json's `djaploy` task, the one source of how djaploy is
 * run: the tests run djaploy (and check the binaries and the README) with them.
 */
import { fileURLToPath } from "node:url";

const task: string = JSON.parse(
  Deno.readTextFileSync(fileURLToPath(new URL("../../deno.json", import.meta.url))),
).tasks.djaploy;
const words = task.split(/\s+/);

/** The task's --allow-* flags: what every way of running djaploy gets. */
export const TASK_PERMISSIONS: readonly string[] = words.filter((w) => w.startsWith("--allow-"));

/** The task's --v8-flags (none when it has none). */
export const TASK_V8_FLAGS: readonly string[] = words.filter((w) => w.startsWith("--v8-flags="));
