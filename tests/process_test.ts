import assert from "node:assert/strict";
import { ProgramNotFoundError, runProcess, startProcess } from "../lib/exec/process.ts";

/** The child's pid, session id and parent pid, as the child sees them. */
const WHO = "read -r pid _ _ _ _ sid _ < /proc/$$/stat; echo $$ $sid $PPID";

Deno.test({
  name: "process: a detached child runs in its own session, started by djaploy itself",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const r = await runProcess("sh", ["-c", WHO], { detached: true });
    const [pid, sid, ppid] = r.stdout.trim().split(" ").map(Number);
    assert.equal(sid, pid, "a session of its own: the terminal's Ctrl-C does not reach it");
    assert.equal(ppid, Deno.pid, "no process in between");
    const held = startProcess("sh", ["-c", WHO], { detached: true });
    const [hpid, hsid] = (await held.readLine())!.split(" ").map(Number);
    assert.equal(hsid, hpid);
    await held.close();
    // Not detached: this process's session.
    const plain = await runProcess("sh", ["-c", WHO]);
    assert.notEqual(Number(plain.stdout.trim().split(" ")[1]), Number(plain.stdout.split(" ")[0]));
  },
});

Deno.test("process: a program that is not there is ProgramNotFoundError, detached or not", async () => {
  for (const detached of [true, false]) {
    await assert.rejects(
      runProcess("djaploy-no-such-program", [], { detached }),
      (e) => e instanceof ProgramNotFoundError && e.program === "djaploy-no-such-program",
    );
  }
});

Deno.test("process: output, errors and the exit code of a detached child, with input", async () => {
  const r = await runProcess("sh", ["-c", "cat; echo err >&2; exit 3"], {
    detached: true,
    stdin: "in\n",
  });
  assert.deepEqual([r.code, r.stdout, r.stderr], [3, "in\n", "err\n"]);
});
