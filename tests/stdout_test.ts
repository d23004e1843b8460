import assert from "node:assert/strict";
import { join } from "node:path";
import { setImmediate } from "node:timers";
import { flushStdout, writeStdout, writeStdoutNow } from "../lib/output/stdout.ts";
import { withTempDir } from "./helpers/fixtures.ts";

const dec = new TextDecoder();

Deno.test("stdout: what is written within a task goes out in one write, once the task is done", async () => {
  const writes: string[] = [];
  const original = Deno.stdout.writeSync;
  Deno.stdout.writeSync = (bytes: Uint8Array) => {
    writes.push(dec.decode(bytes));
    return bytes.length;
  };
  try {
    writeStdout("web-1  ok  check server\n");
    writeStdout("web-1  ok  new release\n");
    writeStdout("web-1  ok  app directories\n");
    assert.deepEqual(writes, [], "nothing yet: the task is not done");
    // Written in the same turn of the event loop, with no timer to wait for (a zero-delay timer
    // would have djaploy sleep and wake up again for it).
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(writes, [
      "web-1  ok  check server\nweb-1  ok  new release\nweb-1  ok  app directories\n",
    ]);
    writeStdout("web-2  ok  check server\n");
    flushStdout();
    assert.equal(writes.length, 2, "flushStdout writes at once");
    flushStdout();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(writes.length, 2, "nothing queued, nothing written");
    // The live status's lines go out at once, after what was queued before them.
    writeStdout("web-3  ok  check server\n");
    writeStdoutNow("\x1b[1A live line\n");
    assert.deepEqual(writes.slice(2), ["web-3  ok  check server\n", "\x1b[1A live line\n"]);
  } finally {
    Deno.stdout.writeSync = original;
  }
});

Deno.test("stdout: lines keep their order with stderr's and with a process that inherits stdout, and the last ones are written at exit", async () => {
  await withTempDir(async (dir) => {
    const script = join(dir, "main.ts");
    const root = new URL("..", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { Ui } from "${root}lib/output/ui.ts";
import { runProcess } from "${root}lib/exec/process.ts";
const ui = new Ui({ verbosity: "normal", color: false });
ui.line("one");
ui.warn("two");
ui.line("three");
await runProcess("sh", ["-c", "echo four"], { inherit: true });
ui.line("five");
Deno.exit(0);
`,
    );
    // stdout and stderr into one pipe, as in a cron mail or a CI log.
    const out = await new Deno.Command("sh", {
      args: ["-c", `"${Deno.execPath()}" run --allow-all "${script}" 2>&1`],
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0, dec.decode(out.stdout));
    assert.equal(dec.decode(out.stdout), "one\nwarning: two\nthree\nfour\nfive\n");
  });
});
