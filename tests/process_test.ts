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

Deno.test("process: a live process's lines, whatever the chunks; close returns what was not read", async () => {
  // Lines split across writes (and so across reads), a burst of many lines, a last line
  // without its newline, and multi-byte characters split between chunks.
  const script = [
    "printf 'one\\ntw'; sleep 0.05; printf 'o\\n'",
    'i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done',
    "printf '\\303'; sleep 0.05; printf '\\251t\\303\\251\\n'",
    "printf 'last'",
  ].join("; ");
  const p = startProcess("sh", ["-c", script], { detached: true });
  assert.equal(await p.readLine(), "one");
  assert.equal(await p.readLine(), "two");
  for (let i = 0; i < 500; i++) assert.equal(await p.readLine(), `line ${i}`);
  assert.equal(await p.readLine(), "été");
  assert.equal(await p.readLine(), "last");
  assert.equal(await p.readLine(), undefined);
  assert.equal((await p.close()).stdout, "");

  const q = startProcess("sh", ["-c", "printf 'a\\nb\\nc\\nd'; echo oops >&2; exit 4"]);
  assert.equal(await q.readLine(), "a");
  const r = await q.close();
  assert.deepEqual([r.code, r.stdout, r.stderr], [4, "b\nc\nd", "oops\n"]);
});

Deno.test("process: a live process whose stderr is not read; a program that is not there is still told from one that exits 127", async () => {
  const p = startProcess("sh", ["-c", "echo out; echo err >&2; exit 5"], {
    detached: true,
    stderr: "null",
  });
  assert.equal(await p.readLine(), "out");
  assert.deepEqual(await p.close().then((r) => [r.code, r.stdout, r.stderr]), [5, "", ""]);
  // Through setsid(1), which says why on the stderr nobody reads: told by the exit and PATH.
  await assert.rejects(
    startProcess("djaploy-no-such-program", [], { detached: true, stderr: "null" }).close(),
    (e) => e instanceof ProgramNotFoundError && e.program === "djaploy-no-such-program",
  );
  const gone = await startProcess("sh", ["-c", "exit 127"], { detached: true, stderr: "null" })
    .close();
  assert.equal(gone.code, 127, "a program that is there and exits 127 is not missing");
});

Deno.test("process: output of a process that prints more than a pipe holds, with live chunks", async () => {
  const big = 'i=0; while [ $i -lt 20000 ]; do echo "line $i"; i=$((i+1)); done; echo e >&2';
  const whole = await runProcess("sh", ["-c", big], { detached: true });
  const lines = whole.stdout.split("\n");
  assert.equal(lines.length, 20001);
  assert.equal(lines[19999], "line 19999");
  assert.equal(whole.stderr, "e\n");
  let chunks = "";
  const live = await runProcess("sh", ["-c", big], { onStdout: (c) => (chunks += c) });
  assert.equal(live.stdout, whole.stdout);
  assert.equal(chunks, whole.stdout);
});

Deno.test("process: stopped by its signal, a child's result comes back (pipes held elsewhere)", async () => {
  // The grandchild keeps stdout open after the child is killed, as an ssh master holds a mux
  // client's pipes: the result must still come back soon after the child ended.
  const ac = new AbortController();
  const started = performance.now();
  const run = runProcess("sh", ["-c", "sleep 1.5 & echo started; wait"], {
    signal: ac.signal,
    detached: true,
  });
  setTimeout(() => ac.abort(), 200);
  const r = await run;
  assert.notEqual(r.code, 0);
  assert.ok(performance.now() - started < 1200, "did not wait for the grandchild's pipes");
  // The output given up is read to its end when the grandchild ends (no operation left behind).
  await new Promise((resolve) => setTimeout(resolve, 1700 - (performance.now() - started)));
});

Deno.test("process: a held process stopped by its signal ends its lines and its close soon, pipes held elsewhere", async () => {
  // As the shell holding the deploy lock, stopped by a second Ctrl-C while its ssh master
  // keeps the pipes open until the remote command ends.
  const ac = new AbortController();
  const started = performance.now();
  const p = startProcess("sh", ["-c", "sleep 1.5 & echo started; wait"], {
    signal: ac.signal,
    detached: true,
  });
  assert.equal(await p.readLine(), "started");
  ac.abort();
  assert.equal(await p.readLine(), undefined, "no more lines once it ended");
  const r = await p.close();
  assert.notEqual(r.code, 0);
  assert.ok(performance.now() - started < 1200, "did not wait for the grandchild's pipes");
  await new Promise((resolve) => setTimeout(resolve, 1700 - (performance.now() - started)));
});

Deno.test("process: a live process closed without reading the rest ends at its exit, not at its output's end; a line still waited for ends there too", async () => {
  // As the deploy lock's ssh given back: all that matters was read, and its exit is what is
  // waited for (one wake-up per host less than its output's end, a moment before).
  const dir = await Deno.makeTempDir();
  try {
    // Once its stdin closes, a grandchild holds stdout open for 1.5 s after the process exited.
    const script = `echo first; read x; (sleep 1.5; echo late; touch ${dir}/late) & exit 3`;
    const p = startProcess("sh", ["-c", script]);
    assert.equal(await p.readLine(), "first");
    const waiting = p.readLine();
    const started = performance.now();
    const r = await p.close({ readRest: false });
    assert.ok(performance.now() - started < 1000, "waited for the output's end");
    assert.deepEqual([r.code, r.stdout], [3, ""]);
    assert.equal(await waiting, undefined);
    assert.equal(await p.readLine(), undefined);
    // The same, read to the end: close waits for the grandchild's output.
    const q = startProcess("sh", ["-c", script]);
    assert.equal(await q.readLine(), "first");
    const t0 = performance.now();
    const all = await q.close();
    assert.ok(performance.now() - t0 > 1000, "read to the end");
    assert.deepEqual([all.code, all.stdout], [3, "late\n"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("process: output in files (outputFile): text, errors, exit code and input as through pipes; the files removed; a missing program told apart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/run1`;
    const r = await runProcess("sh", [
      "-c",
      'cat; printf "%s" "$1"; echo err >&2; exit 3',
      "sh",
      "été",
    ], {
      detached: true,
      stdin: "in\n",
      outputFile: path,
    });
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, "in\nété", "err\n"]);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the output files are removed");
    // Not through a pipe: a grandchild left running with its stdout does not hold the result back.
    const started = performance.now();
    const held = await runProcess("sh", ["-c", "sleep 2 & echo started"], {
      outputFile: `${dir}/run2`,
    });
    assert.equal(held.stdout, "started\n");
    assert.ok(performance.now() - started < 1500, "waited for the grandchild");
    await assert.rejects(
      runProcess("djaploy-no-such-program", [], { detached: true, outputFile: `${dir}/run3` }),
      (e) => e instanceof ProgramNotFoundError && e.program === "djaploy-no-such-program",
    );
    const gone = await runProcess("sh", ["-c", "echo bye >&2; exit 127"], {
      outputFile: `${dir}/run4`,
    });
    assert.deepEqual([gone.code, gone.stderr], [127, "bye\n"], "there, and exits 127: not missing");
    // Stopped by its signal: its result comes back, the files removed.
    const ac = new AbortController();
    const run = runProcess("sh", ["-c", "echo partial; sleep 5"], {
      signal: ac.signal,
      detached: true,
      outputFile: `${dir}/run5`,
    });
    setTimeout(() => ac.abort(), 300);
    const stopped = await run;
    assert.notEqual(stopped.code, 0);
    assert.equal(stopped.stdout, "partial\n");
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
