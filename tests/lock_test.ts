import assert from "node:assert/strict";
import { acquireLock, lockPath } from "../lib/lock.ts";
import { UserError } from "../lib/errors.ts";
import { ShellExecutor } from "./helpers/shell_executor.ts";

const owner = (command: string) => ({
  holder: "ops@laptop",
  command,
  since: new Date().toISOString(),
});

/** A lock of an app of its own, on this machine (as a host would run it). */
async function withApp(fn: (app: string) => Promise<void>): Promise<void> {
  const app = `locktest-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await fn(app);
  } finally {
    await Deno.remove(lockPath(app)).catch(() => undefined);
  }
}

Deno.test("acquireLock: runs the `then` script once locked and hands back its exact output and code", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(
      exec,
      app,
      owner("deploy --env test"),
      0,
      "printf 'first\\n\\nlast, no newline'; exit 3",
    );
    try {
      assert.deepEqual(lock.then, { stdout: "first\n\nlast, no newline", code: 3 });
      assert.equal(exec.stats.commands, 1, "the lock and the script are one round trip");
    } finally {
      await lock.release();
    }
    const again = await acquireLock(exec, app, owner("deploy"), 0, "printf 'a\\n'");
    assert.deepEqual(again.then, { stdout: "a\n", code: 0 });
    await again.release();
  });
});

Deno.test("acquireLock: a second run is refused while the first holds the lock, and names its holder", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const first = await acquireLock(exec, app, owner("deploy --env production"), 0);
    try {
      await assert.rejects(
        () => acquireLock(exec, app, owner("activate"), 0, "echo never"),
        (e: unknown) =>
          e instanceof UserError && /held by ops@laptop \(djaploy deploy --env production/.test(
            e.message,
          ),
      );
    } finally {
      await first.release();
    }
    const next = await acquireLock(exec, app, owner("activate"), 0);
    assert.equal(next.then, undefined);
    await next.release();
  });
});
