import assert from "node:assert/strict";
import {
  acquireLock,
  type HeldLock,
  joinTicks,
  type LockOwner,
  lockPath,
  parseOwner,
  runningUnderLock,
  type ThenResult,
} from "../lib/host/deploy_lock.ts";
import type { Executor, HeldCommand, HoldOptions } from "../lib/exec/executor.ts";
import { breakLock, inspectLock, lockStateProbe } from "../lib/commands/unlock.ts";
import { gatherFacts } from "../lib/host/facts.ts";
import { LOCK_STATE_SH } from "../lib/commands/programs.gen.ts";
import { CommandError, UserError } from "../lib/errors.ts";
import { type RemoteCommand, shScript } from "../lib/exec/remote_command.ts";
import { runChain } from "../lib/exec/chain.ts";
import { openHost } from "../lib/engine/runner.ts";
import type { HostConfig } from "../lib/config/types.ts";
import { basename, dirname, join } from "node:path";
import { sh, withTempDir } from "./helpers/fixtures.ts";
import { LOCK_BASH } from "../lib/host/programs.gen.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { forger, ShellExecutor, standInSudo, waitFor } from "./helpers/shell_executor.ts";

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
    for (const file of [lockPath(app), `${lockPath(app)}.owner`]) {
      await Deno.remove(file).catch(() => undefined);
    }
  }
}

/** Holds a lock of an app of its own on this machine with `timing`, for `fn`; gives it back after. */
async function holding(
  exec: ShellExecutor,
  timing: { heartbeatMs: number; timeoutSeconds: number },
  fn: (lock: HeldLock, app: string) => Promise<void>,
): Promise<void> {
  await withApp(async (app) => {
    const lock = await acquireLock(exec, app, owner("deploy"), 0, undefined, { timing });
    try {
      await fn(lock, app);
    } finally {
      await lock.release();
    }
  });
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
      assert.deepEqual(answer(lock.then), { stdout: "first\n\nlast, no newline", code: 3 });
      assert.equal(exec.stats.commands, 1, "the lock and the script are one round trip");
    } finally {
      await lock.release();
    }
    const again = await acquireLock(exec, app, owner("deploy"), 0, "printf 'a\\n'");
    assert.deepEqual(answer(again.then), { stdout: "a\n", code: 0 });
    await again.release();
  });
});

Deno.test("acquireLock: the `then` script's output comes whole once it ended, as one line (one read on djaploy's side, not one per probe)", async () => {
  await withApp(async (app) => {
    // Notes each line of the holding shell's output, and when it reached djaploy.
    const arrived: { line: string; at: number }[] = [];
    const exec = new class extends ShellExecutor {
      override async hold(cmd: RemoteCommand) {
        const held = await super.hold(cmd);
        return {
          ...held,
          async readLine() {
            const line = await held.readLine();
            if (line !== undefined) arrived.push({ line, at: performance.now() });
            return line;
          },
        };
      }
    }("root");
    const lock = await acquireLock(
      exec,
      app,
      owner("deploy"),
      0,
      "printf 'first\\n'; sleep 1; printf 'second\\n\\n'; exit 4",
    );
    try {
      assert.deepEqual(answer(lock.then), { stdout: "first\nsecond\n\n", code: 4 });
      // Sent as printed, "first" would come 1 s before "second" (and with LOCKED); whole, with it.
      assert.deepEqual(arrived.map((a) => a.line.split(" ")[0]), ["LOCKED", "THEN"]);
      assert.ok(arrived[1].at - arrived[0].at >= 500, "the output came once the script ended");
    } finally {
      await lock.release();
    }
  });
});

Deno.test("acquireLock: what the `then` script prints cannot pass for the end of its answer or a line of the shell's", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    // Lines a hostile app user could plant in a file that root's probes read.
    const planted = "x\nTHEN 0 AAAA\nbeat 1\n@@mark start\n";
    const lock = await acquireLock(
      exec,
      app,
      owner("deploy"),
      0,
      `printf '%s' '${planted}'; exit 3`,
    );
    try {
      assert.deepEqual(answer(lock.then), { stdout: planted, code: 3 });
      assert.equal(lock.running, true);
    } finally {
      await lock.release();
    }
  });
});

/**
 * Runs the lock's shell with its stdout a SOCK_SEQPACKET socket, where each write(2) stays a
 * record of its own (a pipe would join writes that come close together), sends it `commands`
 * (each a script run through "run"), and returns the records it wrote, in order.
 */
async function lockShellWrites(
  app: string,
  then: string,
  commands: readonly string[],
  last?: string,
): Promise<{ writes: string[]; code: number }> {
  const harness = `
import json, socket, subprocess, sys
lock_bash, lock, then = sys.argv[1:4]
commands, last = json.loads(sys.argv[4]), json.loads(sys.argv[5])
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
p = subprocess.Popen(["bash", "-c", lock_bash, "bash", lock, "{}", "0", "30", then],
                     stdin=subprocess.PIPE, stdout=theirs)
theirs.close()
records = []
def record():
    r = ours.recv(1 << 20).decode()
    records.append(r)
    return r
def until(text):
    while text not in record():
        pass
until("THEN ")
for i, script in enumerate(commands):
    mark = "@@mark-%d" % i
    data = script.encode()
    p.stdin.write(b"run %s %d 0\\n" % (mark.encode(), len(data)) + data)
    p.stdin.flush()
    until("%s " % mark)
if last is not None:
    data = last.encode()
    p.stdin.write(b"end %d 0\\n" % len(data) + data)
    p.stdin.flush()
p.stdin.close()
while record():
    pass
p.wait()
print(json.dumps({"writes": records[:-1], "code": p.returncode}))
`;
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      harness,
      LOCK_BASH,
      lockPath(app),
      then,
      JSON.stringify(commands),
      JSON.stringify(last ?? null),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

/** The `then` script's answer as text and exit code (its bytes are that text's). */
function answer(then: ThenResult | undefined) {
  if (then?.bytes) assert.equal(new TextDecoder().decode(then.bytes), then.stdout);
  return then && { stdout: then.stdout, code: then.code };
}

Deno.test("lock's shell: the `then` output and each command's answer go out in one write each (each write is a read and a wake-up for djaploy, on every host)", async () => {
  await withApp(async (app) => {
    // Longer than the 4 kB that printf writes at a time; an answer in pieces, a sleep apart.
    const then = "for i in $(seq 1 200); do echo \"probe $i: $(printf '%040d' 0)\"; done";
    const command = "echo out; sleep 0.2; echo err >&2; sleep 0.2; exit 3";
    const { writes } = await lockShellWrites(app, then, [command, "true"]);
    assert.equal(writes[0], "LOCKED\n");
    assert.ok(
      writes[1].length > 8000 && /^THEN 0 [A-Za-z0-9+/=]+\n$/.test(writes[1]),
      writes[1].slice(-40),
    );
    assert.equal(writes[2], "@@mark-0 start\nout\n\n@@mark-0\nerr\n\n@@mark-0 3\n");
    assert.equal(writes[3], "@@mark-1 start\n\n@@mark-1\n\n@@mark-1 0\n");
    assert.equal(writes.length, 4, JSON.stringify(writes.slice(4)));
  });
});

Deno.test("lock's shell: the last command, sent with the end, runs under the lock and writes nothing: its exit code is the shell's", async () => {
  await withApp(async (app) => {
    // It finds the lock still held (flock -n fails), and its output goes nowhere.
    const last = `echo out; echo err >&2; flock -n ${lockPath(app)} true && exit 9; exit 4`;
    const { writes, code } = await lockShellWrites(app, "true", ["true"], last);
    assert.equal(writes.length, 3, JSON.stringify(writes));
    assert.equal(writes[2], "@@mark-0 start\n\n@@mark-0\n\n@@mark-0 0\n");
    assert.equal(code, 4);
    // Given back: the owner record is gone, and another run takes the lock.
    await assert.rejects(() => Deno.stat(`${lockPath(app)}.owner`));
    const next = await acquireLock(new ShellExecutor("root"), app, owner("deploy"), 0);
    await next.release();
  });
});

Deno.test("held lock: finish runs the last command under the lock with its input, gives the lock back, and says how it ended", async () => {
  await withApp(async (app) => {
    const dir = await Deno.makeTempDir();
    try {
      const lock = await acquireLock(new ShellExecutor("root"), app, owner("deploy"), 0);
      await lock.run({ argv: ["true"], as: "root" });
      const r = await lock.finish({
        argv: [
          "sh",
          "-c",
          `cat > ${dir}/input; flock -n ${lockPath(app)} true || echo held > ${dir}/lock; exit 6`,
        ],
        as: "root",
        stdin: "the record\n",
      });
      assert.deepEqual([r.code, r.stdout, r.stderr], [6, "", ""]);
      assert.equal(await Deno.readTextFile(`${dir}/input`), "the record\n");
      assert.equal(await Deno.readTextFile(`${dir}/lock`), "held\n", "ran under the lock");
      assert.equal(lock.running, false);
      await assert.rejects(() => lock.run({ argv: ["true"], as: "root" }), lost(/released/));
      const next = await acquireLock(new ShellExecutor("root"), app, owner("deploy"), 0);
      await next.release();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
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

/** A process's start time, /proc/PID/stat field 22, as the lock's owner record keeps it. */
async function startTime(pid: number): Promise<string> {
  // Read through a shell: Deno reads no /proc file without --allow-all.
  const { stdout } = await new ShellExecutor("root").run({ argv: ["cat", `/proc/${pid}/stat`] });
  return stdout.slice(stdout.lastIndexOf(")") + 2).split(" ")[19];
}

/**
 * Holds `app`'s lock with a shell that writes no owner line, as a run does in the moment between
 * taking the lock and writing its line, and gives it back when `fn` ended.
 */
async function holdingUnnamed(
  app: string,
  fn: (holder: { pid: number; started: string; free: () => Promise<void> }) => Promise<void>,
): Promise<void> {
  await Deno.mkdir(dirname(lockPath(app)), { recursive: true });
  const child = new Deno.Command("bash", {
    args: ["-c", 'exec 9>>"$1"; flock 9; echo held; read -r _', "bash", lockPath(app)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await lines.read()).value, "held\n");
  const started = await startTime(child.pid);
  const free = async () => {
    await child.stdin.close().catch(() => undefined);
    await child.status;
  };
  try {
    await fn({ pid: child.pid, started, free });
  } finally {
    await free();
    await lines.cancel();
  }
}

Deno.test("acquireLock: a run that comes just after another took the lock, before its owner line, waits for the line and names the holder", async () => {
  await withApp(async (app) => {
    await holdingUnnamed(app, async ({ pid, started }) => {
      // An earlier holder's line, left by a shell that is gone (killed): not believed.
      await Deno.writeTextFile(
        `${lockPath(app)}.owner`,
        `999999999 1 ${JSON.stringify(owner("gone"))}\n`,
      );
      const refused = assert.rejects(
        () => acquireLock(new ShellExecutor("root"), app, owner("activate"), 0),
        (e: unknown) =>
          e instanceof UserError && /held by ops@laptop \(djaploy deploy --env production/.test(
            e.message,
          ),
      );
      refused.catch(() => undefined); // awaited below, once the line is written
      await new Promise((r) => setTimeout(r, 300));
      await Deno.writeTextFile(
        `${lockPath(app)}.owner`,
        `${pid} ${started} ${JSON.stringify(owner("deploy --env production"))}\n`,
      );
      await refused;
    });
  });
});

Deno.test("acquireLock: a run that comes while the holder gives the lock back, its owner line gone, takes the lock", async () => {
  await withApp(async (app) => {
    await holdingUnnamed(app, async ({ free }) => {
      const taking = acquireLock(new ShellExecutor("root"), app, owner("activate"), 0);
      taking.catch(() => undefined); // awaited below, once the holder gave the lock back
      await new Promise((r) => setTimeout(r, 300));
      await free();
      const lock = await taking;
      await lock.release();
    });
  });
});

Deno.test("acquireLock: a holder that never names itself is, after 2 s, an unknown run (not an earlier holder's stale line)", async () => {
  await withApp(async (app) => {
    await holdingUnnamed(app, async () => {
      await Deno.writeTextFile(
        `${lockPath(app)}.owner`,
        `999999999 1 ${JSON.stringify(owner("gone"))}\n`,
      );
      await assert.rejects(
        () => acquireLock(new ShellExecutor("root"), app, owner("activate"), 0),
        (e: unknown) => e instanceof UserError && /is held by an unknown run$/.test(e.message),
      );
    });
  });
});

Deno.test("acquireLock: with a wait, the shell says whom it waits for, then takes the lock once the holder gives it back", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const first = await acquireLock(exec, app, owner("deploy --env production"), 0);
    // What the waiting run's shell prints, line by line, as acquireLock reads it.
    const lines: string[] = [];
    let answersAtOnce: boolean | undefined;
    const seen = {
      host: exec.host,
      hold: async (cmd: RemoteCommand, opts?: HoldOptions) => {
        answersAtOnce = opts?.answersAtOnce;
        const held = await exec.hold(cmd);
        return {
          ...held,
          readLine: async () => {
            const line = await held.readLine();
            if (line !== undefined) lines.push(line);
            return line;
          },
        };
      },
    } as unknown as Executor;
    const waits: (LockOwner | undefined)[] = [];
    const waiting = acquireLock(seen, app, owner("deploy"), 10, "echo facts", {
      onWait: (holder) => waits.push(holder),
    });
    for (let i = 0; i < 200 && lines.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(lines.length, 1, "one line before the wait, and nothing held yet");
    assert.match(lines[0], /^WAITING \d+ \d+ \{/);
    assert.equal(waits.length, 1);
    assert.equal(waits[0]?.holder, "ops@laptop");
    assert.equal(waits[0]?.command, "deploy --env production");
    // So over ssh it may open the host's connection: the login counts as done at that line.
    assert.equal(answersAtOnce, true);
    await first.release();
    const next = await waiting;
    assert.deepEqual(answer(next.then), { stdout: "facts\n", code: 0 });
    assert.equal(lines[1], "LOCKED");
    assert.equal(waits.length, 1, "told once");
    await next.release();
    // A free lock is taken at once, with no word of waiting.
    const free = await acquireLock(exec, app, owner("deploy"), 10, undefined, {
      onWait: (holder) => waits.push(holder),
    });
    assert.equal(waits.length, 1);
    await free.release();
  });
});

/** The owner record's PID and start time, as the holder wrote them. */
async function ownerRecord(app: string): Promise<{ pid: number; started?: string }> {
  const { pid, started } = parseOwner(await Deno.readTextFile(`${lockPath(app)}.owner`));
  assert.ok(pid, "the holder recorded its PID");
  return { pid, started };
}

const lost = (pattern: RegExp) => (e: unknown) =>
  e instanceof UserError && /^Stopped: the deploy lock of locktest-\S+ on local was lost: /.test(
    e.message,
  ) && pattern.test(e.message);

Deno.test("lock heartbeat: answered heartbeats keep the lock, verify passes", async () => {
  await holding(
    new ShellExecutor("root"),
    { heartbeatMs: 200, timeoutSeconds: 1 },
    async (lock, app) => {
      await new Promise((r) => setTimeout(r, 1600));
      await lock.verify();
      assert.equal((await ownerRecord(app)).pid > 0, true);
    },
  );
});

Deno.test("lock heartbeat: the locks of a run beat on one timer, each within a period of its start, and stop when given back", async () => {
  const calls: { who: string; at: number }[] = [];
  const at = () => performance.now();
  const leaveA = joinTicks(100, () => calls.push({ who: "a", at: at() }));
  await new Promise((r) => setTimeout(r, 40));
  // Later locks: their first heartbeat comes at the next tick, with the first lock's.
  const joined = at();
  const leaveB = joinTicks(100, () => calls.push({ who: "b", at: at() }));
  const leaveC = joinTicks(100, () => calls.push({ who: "c", at: at() }));
  await new Promise((r) => setTimeout(r, 230));
  leaveB();
  const left = at();
  await new Promise((r) => setTimeout(r, 230));
  // The calls of one tick come together; ticks are a period apart.
  const ticks: { who: string; at: number }[][] = [];
  for (const c of calls) {
    const last = ticks.at(-1);
    if (last && c.at - last[0].at < 30) last.push(c);
    else ticks.push([c]);
  }
  const shown = JSON.stringify(calls);
  const before = ticks.filter((t) => t[0].at > joined && t[0].at < left);
  const after = ticks.filter((t) => t[0].at > left);
  assert.ok(before.length >= 1 && after.length >= 1, shown);
  for (const t of before) assert.equal(t.map((c) => c.who).join(""), "abc", shown);
  for (const t of after) assert.equal(t.map((c) => c.who).join(""), "ac", shown);
  assert.ok(before[0][0].at - joined < 100 + 100, `the first heartbeat within a period: ${shown}`);
  leaveA();
  leaveC();
  leaveC(); // twice: no harm
  const count = calls.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(calls.length, count, "no heartbeat once every lock is given back");
});

Deno.test("lock heartbeat: two locks held at once are both kept by the shared heartbeat", async () => {
  await withApp(async (first) => {
    await withApp(async (second) => {
      const exec = new ShellExecutor("root");
      const timing = { heartbeatMs: 200, timeoutSeconds: 1 };
      const a = await acquireLock(exec, first, owner("deploy"), 0, undefined, { timing });
      await new Promise((r) => setTimeout(r, 100));
      const b = await acquireLock(exec, second, owner("deploy"), 0, undefined, { timing });
      try {
        // Past the hosts' 1 s timeout: only heartbeats keep the shells holding.
        await new Promise((r) => setTimeout(r, 1600));
        await a.verify();
        await b.verify();
        assert.ok(a.running && b.running);
        await a.release();
        await new Promise((r) => setTimeout(r, 1600));
        await b.verify();
        assert.ok(b.running, "the other lock still beats once one is given back");
      } finally {
        await a.release();
        await b.release();
      }
    });
  });
});

/** A ShellExecutor whose held commands tell what was written to them: the heartbeats sent. */
class BeatCounter extends ShellExecutor {
  readonly beats: number[] = [];
  override async hold(cmd: RemoteCommand): Promise<HeldCommand> {
    const held = await super.hold(cmd);
    return {
      readLine: () => held.readLine(),
      end: () => held.end(),
      write: (text) => {
        if (/^\d+\n$/.test(text)) this.beats.push(performance.now());
        return held.write(text);
      },
    };
  }
}

Deno.test("lock heartbeat: a shell sent commands gets no heartbeat, and stays held past its timeout", async () => {
  const exec = new BeatCounter("root");
  await holding(exec, { heartbeatMs: 1000, timeoutSeconds: 2 }, async (lock) => {
    // A command every 100 ms for 2.5 s, past the host's 2 s timeout: they are its heartbeats.
    const until = performance.now() + 2500;
    while (performance.now() < until) {
      assert.equal((await lock.run({ argv: ["true"], as: "root" })).code, 0);
      await new Promise((r) => setTimeout(r, 100));
    }
    await lock.verify();
    assert.ok(lock.running);
    assert.deepEqual(exec.beats, [], "no heartbeat while commands kept coming");
    // Then nothing: heartbeats keep it, each within a period and a half of the line before.
    const last = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    await lock.verify();
    assert.ok(lock.running);
    const times = [last, ...exec.beats];
    const gaps = exec.beats.map((t, i) => Math.round(t - times[i]));
    assert.ok(exec.beats.length >= 2, `heartbeats once commands stopped: ${gaps}`);
    for (const gap of gaps) assert.ok(gap >= 800 && gap <= 1500 + 200, `gaps: ${gaps}`);
  });
});

Deno.test("lock heartbeat: verify waits for a heartbeat already on its way instead of sending another", async () => {
  const exec = new BeatCounter("root");
  // No timer heartbeat within the test; verify trusts an answer up to half the timeout (1 s) old.
  await holding(exec, { heartbeatMs: 60_000, timeoutSeconds: 2 }, async (lock) => {
    await new Promise((r) => setTimeout(r, 1100));
    // The second verify finds the first one's heartbeat unanswered, and waits for its answer.
    await Promise.all([lock.verify(), lock.verify()]);
    assert.ok(lock.running);
    assert.equal(exec.beats.length, 1, "one heartbeat for both");
    // Answered now: a third verify asks nothing.
    await lock.verify();
    assert.equal(exec.beats.length, 1);
  });
});

Deno.test("lock heartbeat: a command's answer proves the lock as a heartbeat's does (verify asks no more)", async () => {
  const exec = new BeatCounter("root");
  // Heartbeats would come only after a minute: the commands are all the shell is sent.
  await holding(exec, { heartbeatMs: 60_000, timeoutSeconds: 4 }, async (lock) => {
    // verify trusts an answer to a line sent up to half the host's timeout ago (2 s).
    await new Promise((r) => setTimeout(r, 2300));
    await lock.verify();
    assert.equal(exec.beats.length, 1, "an answer 2.3 s old: verify asked the host");
    // The heartbeat's answer grows old (2.2 s by the next verify), a command's is new.
    await new Promise((r) => setTimeout(r, 1900));
    await lock.run({ argv: ["true"], as: "root" });
    await new Promise((r) => setTimeout(r, 300));
    await lock.verify();
    assert.equal(exec.beats.length, 1, "the command's answer was enough");
    // A command that ran for longer counts from when it was sent, not when it ended.
    await lock.run({ argv: ["sleep", "2.2"], as: "root" });
    await lock.verify();
    assert.equal(exec.beats.length, 2, "a command sent 2.2 s ago proves nothing newer");
  });
});

Deno.test("lock heartbeat: heartbeats that stop past the host's timeout are noticed (a suspended djaploy)", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    // No heartbeat goes out for a minute, as if this machine slept; the host gives up after 1 s.
    const lock = await acquireLock(exec, app, owner("deploy"), 0, undefined, {
      timing: { heartbeatMs: 60_000, timeoutSeconds: 1 },
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await assert.rejects(() => lock.verify(), lost(/ended|no heartbeat reached the host/));
      // Another run can take it now: the first must not go on.
      const other = await acquireLock(exec, app, owner("deploy --env other"), 0);
      await other.release();
    } finally {
      await lock.release();
    }
  });
});

Deno.test("lock heartbeat: a holder ended on the host (djaploy unlock) is noticed before the next step", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy"), 0);
    try {
      await lock.verify();
      Deno.kill((await ownerRecord(app)).pid, "SIGTERM");
      await new Promise((r) => setTimeout(r, 300));
      await assert.rejects(() => lock.verify(), lost(/the shell holding it on the host ended/));
    } finally {
      await lock.release();
    }
  });
});

/** The command line of the process that ran a command: the held shell names the lock file. */
const parentOf = (cmd: Partial<RemoteCommand> = {}): RemoteCommand => ({
  argv: ["sh", "-c", 'tr "\\0" " " < "/proc/$PPID/cmdline"'],
  as: "root",
  ...cmd,
});

Deno.test("held lock: runs root commands in the shell that holds it, with their exact stdout, stderr, exit code and input, each answer to its own command", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy"), 0, "echo facts", {
      timing: { heartbeatMs: 20, timeoutSeconds: 5 },
    });
    try {
      const parent = await lock.run(parentOf());
      assert.match(parent.stdout, new RegExp(lockPath(app)), "run by the shell holding the lock");
      const input = "line one\nzweite Zeile: é ✓\n\nno newline at the end";
      // Sent at once: each answer still reaches its own command.
      const [echoed, failed, quiet, blank] = await Promise.all([
        lock.run({ argv: ["cat"], as: "root", stdin: input }),
        lock.run({ argv: ["sh", "-c", "printf 'out\\n'; printf 'err 1\\nerr 2' >&2; exit 7"] }),
        lock.run({
          argv: ["sh", "-c", 'read -r s; [ "$s" = s3cret ]'],
          as: "root",
          stdin: new Secret("s3cret\n"),
        }),
        lock.run({ argv: ["printf", "\\n\\n"], as: "root", cwd: "/tmp", env: { A: "b c" } }),
      ]);
      assert.equal(echoed.stdout, input);
      assert.equal(echoed.code, 0);
      assert.deepEqual([failed.code, failed.stdout, failed.stderr], [7, "out\n", "err 1\nerr 2"]);
      assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, "", ""]);
      assert.equal(blank.stdout, "\n\n");
      // Heartbeats went out all along; the lock is still surely held.
      await new Promise((r) => setTimeout(r, 100));
      await lock.verify();
      const env = await lock.run({
        argv: ["sh", "-c", 'echo "$A" "$PWD"'],
        cwd: "/tmp",
        env: { A: "b c" },
      });
      assert.equal(env.stdout, "b c /tmp\n");
      // A script of characters of several bytes: its size is counted in bytes, not characters.
      const wide = await lock.run({ argv: ["printf", "%s|", "zweite Zeile: é ✓"], as: "root" });
      assert.equal(wide.stdout, "zweite Zeile: é ✓|");
    } finally {
      await lock.release();
    }
    assert.equal(exec.stats.commands, 1, "one process for the lock and every command");
  });
});

Deno.test("held lock: a command running when the shell is killed still says how it ended; every command after fails as a lost lock", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy"), 0);
    try {
      const { pid } = await ownerRecord(app);
      const running = lock.run({ argv: ["sh", "-c", "sleep 1; echo ran"], as: "root" });
      await new Promise((r) => setTimeout(r, 200));
      Deno.kill(pid, "SIGKILL");
      // It ran on, in the background, to its end: what it says is true.
      assert.equal((await running).stdout, "ran\n");
      await waitUntil(() => !lock.running);
      await assert.rejects(() => lock.run({ argv: ["true"], as: "root" }), lost(/ended/));
    } finally {
      await lock.release();
    }
    // The killed shell's folder of command output stays behind until the next holder removes it.
    const left = await heldFolders(app);
    assert.equal(left.length, 1);
    const next = await acquireLock(exec, app, owner("deploy"), 0);
    // The new holder makes its own folder just after it said LOCKED, and removes the old one.
    let folders = await heldFolders(app);
    for (let i = 0; i < 100 && !(folders.length === 1 && folders[0] !== left[0]); i++) {
      await new Promise((r) => setTimeout(r, 20));
      folders = await heldFolders(app);
    }
    assert.equal(folders.length, 1, "only the new holder's");
    assert.notEqual(folders[0], left[0], "the killed shell's folder is gone");
    await next.release();
    assert.deepEqual(await heldFolders(app), []);
  });
});

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not so within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("held lock: a long command runs in the background: others run beside it, heartbeats are answered, and the lock is free as soon as its holder goes", async () => {
  // A migration may take minutes: the shell holding the lock must still tell djaploy it is
  // there, and must not keep the lock for a djaploy that is gone.
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy"), 0, undefined, {
      timing: { heartbeatMs: 20, timeoutSeconds: 5 },
    });
    let releasing: Promise<void> | undefined;
    const marks = await Deno.makeTempDir();
    try {
      const started = performance.now();
      // Its end is a file it leaves: once the lock is given back its answer is not read.
      const endMark = join(marks, "long-ended");
      const long = lock.run({
        argv: ["sh", "-c", `sleep 2; touch ${endMark}; echo long`],
        as: "root",
      });
      long.catch(() => undefined);
      let longEnded = false;
      void long.then(() => longEnded = true, () => longEnded = true);
      const longRuns = () => Deno.stat(endMark).then(() => false, () => true);
      const [a, b] = await Promise.all([
        lock.run({ argv: ["sh", "-c", "sleep 0.5; echo a"], as: "root" }),
        lock.run({ argv: ["sh", "-c", "sleep 0.5; echo b"], as: "root" }),
      ]);
      assert.deepEqual([a.stdout, b.stdout], ["a\n", "b\n"]);
      assert.equal(longEnded, false, "two short commands ended while the long one ran");
      assert.ok(performance.now() - started < 1500, "the two short ones ran side by side");
      // Answered within a heartbeat or so (20 ms), not once the long command ended.
      await new Promise((r) => setTimeout(r, 200));
      const asked = performance.now();
      await lock.verify();
      assert.ok(performance.now() - asked < 500, `verify took ${performance.now() - asked} ms`);
      assert.equal(longEnded, false);
      // The holder goes (stdin closes) while the long command runs: the lock is free at once.
      releasing = lock.release();
      const gone = performance.now();
      let next: HeldLock | undefined;
      while (!next) {
        next = await acquireLock(new ShellExecutor("root"), app, owner("deploy"), 0).catch(
          (e) => {
            if (performance.now() - gone > 1000) throw e;
            return undefined;
          },
        );
      }
      await next.release();
      assert.ok(await longRuns(), "the lock was taken again while the long command ran");
    } finally {
      await (releasing ?? lock.release());
      await Deno.remove(marks, { recursive: true });
    }
  });
});

/** The folders of command output that holders of `app`'s lock made (`<lock>.held.XXXXXX`). */
async function heldFolders(app: string): Promise<string[]> {
  const base = basename(lockPath(app));
  const names: string[] = [];
  for await (const e of Deno.readDir(dirname(lockPath(app)))) {
    if (e.name.startsWith(`${base}.held.`)) names.push(e.name);
  }
  return names;
}

/** A ShellExecutor that counts the commands it ran as processes of their own. */
class CountingExecutor extends ShellExecutor {
  readonly lockShellRuns = true;
  own: string[] = [];
  override run(cmd: RemoteCommand) {
    this.own.push(cmd.argv.join(" "));
    return super.run(cmd);
  }
}

Deno.test("runningUnderLock: root's commands run in the held shell while the lock is held; the ssh user's, NUL input, and all after release, run on their own", async () => {
  await withApp(async (app) => {
    const exec = new CountingExecutor("deploy-user-here");
    // The lock is taken as root by a ShellExecutor whose ssh user is root (this machine).
    const lock = await acquireLock(new ShellExecutor("root"), app, owner("deploy"), 0);
    let held: typeof lock | undefined = lock;
    const routed = runningUnderLock(exec, () => held);
    try {
      const r = await routed.run(parentOf());
      assert.match(r.stdout, new RegExp(lockPath(app)));
      assert.deepEqual(exec.own, [], "no process of its own");
      assert.equal(routed.stats.commands, 1, "still counted as a command");
      await assert.rejects(
        () => routed.run({ argv: ["sh", "-c", "echo no >&2; exit 3"], as: "root" }),
        (e: unknown) => e instanceof CommandError && e.code === 3 && /no/.test(e.stderr),
      );
      assert.deepEqual(exec.own, []);
      // The ssh user's commands run without sudo on their own: never in that root shell.
      const own = (cmd: Partial<RemoteCommand>) =>
        routed.run({ argv: ["true"], ...cmd }).catch(() => undefined);
      await own({});
      await own({ as: "deploy-user-here" });
      // Input a shell variable cannot hold goes its own way.
      await own({ as: "root", stdin: "a\0b" });
      assert.equal(exec.own.length, 3);
    } finally {
      await lock.release();
      held = undefined;
    }
    await routed.run({ argv: ["true"], as: "root" }).catch(() => undefined);
    assert.equal(exec.own.length, 4, "after release: its own process");
  });
});

/**
 * A lock held as root by a ShellExecutor with a stand-in sudo, and a CountingExecutor
 * (ssh user "deploy") routed through it; the lock is given back after `fn`.
 */
async function withRoutedLock(
  fn: (t: {
    app: string;
    dir: string;
    exec: CountingExecutor;
    lock: HeldLock;
    routed: Executor;
  }) => Promise<void>,
): Promise<void> {
  await withApp(async (app) => {
    await withTempDir(async (dir) => {
      const env = await standInSudo(dir);
      const exec = new CountingExecutor("deploy", env);
      const lock = await acquireLock(new ShellExecutor("root", env), app, owner("deploy"), 0);
      try {
        await fn({ app, dir, exec, lock, routed: runningUnderLock(exec, () => lock) });
      } finally {
        await lock.release();
      }
    });
  });
}

Deno.test("runChain, root: a chain whose every command names its user runs in the held shell (root's as they are, another user's through sudo); without root, or with an ssh-user command, it goes its own way", async () => {
  await withRoutedLock(async ({ dir, exec, routed }) => {
    const put = (name: string, text: string, as?: string) => ({
      argv: shScript('cat > "$1"', join(dir, name)),
      stdin: text,
      as,
    });
    const r = await runChain(routed, [
      put("a", "A", "root"),
      put("b", "B", "app"),
      { argv: ["sh", "-c", "echo done"], as: "root" },
    ], { root: true });
    assert.deepEqual(exec.own, [], "no process of its own");
    assert.equal(routed.stats.commands, 1);
    assert.equal(r.stdout.trim(), "done");
    assert.equal(await Deno.readTextFile(join(dir, "a")), "A");
    assert.equal(await Deno.readTextFile(join(dir, "b")), "B");
    assert.equal(await Deno.readTextFile(join(dir, "sudo.log")), "app\n", "root's need none");

    const failed = await runChain(routed, [
      put("c", "C", "root"),
      { argv: ["sh", "-c", "echo broken >&2; exit 3"], as: "app" },
      { argv: ["touch", join(dir, "never")], as: "root" },
    ], { root: true, check: false });
    assert.deepEqual([failed.failed, failed.failedCode, failed.stderr], [1, 3, "broken"]);
    await assert.rejects(Deno.stat(join(dir, "never")), Deno.errors.NotFound);
    assert.deepEqual(exec.own, []);

    // Run as the ssh user (no `root`), or with a command of the ssh user's: its own process.
    await runChain(routed, [put("d", "D", "root")]);
    assert.equal(exec.own.length, 1);
    await runChain(routed, [put("e", "E", "root"), put("f", "F")], { root: true });
    assert.equal(exec.own.length, 2);
    assert.equal(await Deno.readTextFile(join(dir, "f")), "F");
  });
});

Deno.test("runningUnderLock: the app user's commands run in the held shell through sudo, as they would on their own", async () => {
  await withRoutedLock(async ({ dir, exec, routed }) => {
    const r = await routed.run({
      argv: ["sh", "-c", 'cat > "$1"; echo "$PWD"', "sh", join(dir, "app-wrote")],
      as: "app",
      cwd: dir,
      stdin: new Secret("migrated\n"),
    });
    assert.deepEqual(exec.own, [], "no process of its own");
    assert.equal(r.stdout, `${dir}\n`);
    assert.equal(await Deno.readTextFile(join(dir, "app-wrote")), "migrated\n");
    assert.equal(await Deno.readTextFile(join(dir, "sudo.log")), "app\n", "through sudo -u app");
    await assert.rejects(
      () => routed.run({ argv: ["sh", "-c", "echo failed >&2; exit 4"], as: "app" }),
      (e: unknown) => e instanceof CommandError && e.code === 4 && /failed/.test(e.stderr),
    );
    assert.deepEqual(exec.own, []);
  });
});

Deno.test("held lock: no command it runs (root's, or the app user's through sudo) holds the shell's stdin, stdout or stderr", async () => {
  // Those carry root's commands and their output for the rest of the run: a process of the app
  // user's that held one (ptrace and pidfd_getfd reach a process of one's own user) could write
  // into what djaploy reads from root.
  await withRoutedLock(async ({ app, dir, exec, lock, routed }) => {
    const { pid } = await ownerRecord(app);
    // Read by readlink(1): Deno reads /proc/<pid>/fd only with --allow-all.
    const links = await sh('for f in 0 1 2; do readlink "/proc/$1/fd/$f"; done', [String(pid)]);
    const [stdin, stdout, stderr, ...rest] = links.stdout.trim().split("\n");
    assert.deepEqual(rest, [], links.stderr);
    // Its stderr goes nowhere once it holds the lock (lock.bash): the channel is stdin and stdout.
    assert.equal(stderr, "/dev/null");
    const channel = [stdin, stdout];
    assert.ok(channel.every((l) => l.startsWith("pipe:")), channel.join(" "));
    const fds: RemoteCommand = {
      argv: ["sh", "-c", 'for f in 0 1 2; do readlink "/proc/$$/fd/$f"; done'],
    };
    const chained = await runChain(routed, [
      { ...fds, as: "root" },
      { ...fds, as: "app" },
      { ...fds, as: "app", stdin: "input" },
    ], { root: true });
    assert.deepEqual(exec.own, [], "run by the shell that holds the lock");
    assert.equal(await Deno.readTextFile(join(dir, "sudo.log")), "app\napp\n", "one sudo each");
    const alone = await lock.run({ ...fds, as: "root", stdin: "input" });
    const seen = [...chained.stdout.trim().split("\n"), ...alone.stdout.trim().split("\n")];
    assert.equal(seen.length, 12, seen.join("\n"));
    for (const [i, link] of seen.entries()) {
      assert.ok(
        !channel.includes(link),
        `fd ${i % 3} of command ${Math.floor(i / 3)} is the lock shell's fd ${
          channel.indexOf(link)
        } (${link})`,
      );
    }
  });
});

Deno.test("lock: the owner record is '<pid> <start time> <owner>' and parses strictly", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy"), 0);
    try {
      const { pid, started } = await ownerRecord(app);
      assert.equal(started, await startTime(pid));
    } finally {
      await lock.release();
    }
  });
  assert.deepEqual(parseOwner('12 {"holder":"a"}').pid, 12);
  assert.deepEqual(parseOwner('12 345 {"holder":"a"}'), {
    pid: 12,
    started: "345",
    owner: { holder: "a" } as never,
  });
  for (const bad of ['-1 {"a":1}', '1;reboot {"a":1}', '0 {"a":1}', '12\n13 {"a":1}', "12"]) {
    assert.equal(parseOwner(bad).pid, undefined, bad);
  }
});

/** A process that is not the lock's holder: sleep, in a session of its own. */
function bystander(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
}

async function alive(pid: number): Promise<boolean> {
  const r = await new ShellExecutor("root").run({
    argv: ["kill", "-0", String(pid)],
    okCodes: [0, 1],
  });
  return r.code === 0;
}

Deno.test("unlock: ends the holder that the owner record names, after checking it holds the lock", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy --env production"), 0);
    try {
      const state = await inspectLock(exec, app);
      assert.equal(state.held, true);
      if (!state.held) return;
      assert.equal(state.record.owner?.command, "deploy --env production");
      const pid = state.record.pid!;
      assert.equal(await breakLock(exec, app, state.record), "freed");
      assert.equal(await alive(pid), false);
      assert.deepEqual(await inspectLock(exec, app), { held: false });
      await assert.rejects(Deno.stat(`${lockPath(app)}.owner`), Deno.errors.NotFound);
    } finally {
      await lock.release();
    }
  });
});

Deno.test("status: the lock's state is a fact, read with the others and without taking the lock", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const probe = lockStateProbe(app);
    assert.deepEqual((await gatherFacts(exec, [probe], [])).get(probe), { held: false });
    const lock = await acquireLock(exec, app, owner("deploy --env production"), 0);
    try {
      const state = (await gatherFacts(exec, [probe], [])).get(probe);
      assert.equal(state.held, true);
      if (!state.held) return;
      assert.equal(state.record.owner?.holder, "ops@laptop");
      assert.equal(state.record.owner?.command, "deploy --env production");
      // Reading it left the lock with its holder.
      await lock.verify();
      assert.equal(lock.running, true);
      // It never takes the lock to tell (a deploy starting then would find it taken): with an
      // flock(1) that records each call first on its PATH, it still tells, and flock never ran.
      await withTempDir(async (bin) => {
        await Deno.writeTextFile(
          join(bin, "flock"),
          `#!/bin/sh\necho "$@" >> ${bin}/calls\nexit 1\n`,
        );
        await Deno.chmod(join(bin, "flock"), 0o755);
        const r = await sh(`PATH=${bin}:$PATH sh -c "$1" sh "$2"`, [LOCK_STATE_SH, lockPath(app)]);
        assert.match(r.stdout, /^held\n\d+ \d+ \{/);
        await assert.rejects(Deno.stat(join(bin, "calls")), Deno.errors.NotFound);
      });
    } finally {
      await lock.release();
    }
    assert.deepEqual((await gatherFacts(exec, [probe], [])).get(probe), { held: false });
    // A holder killed leaves its record behind, and the lock free: free is what it says.
    const killed = await acquireLock(exec, app, owner("deploy"), 0);
    const { pid } = await ownerRecord(app);
    await sh(`kill -KILL ${pid}`);
    for (let i = 0; i < 100 && await alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await alive(pid), false, "the holder ended");
    await Deno.stat(`${lockPath(app)}.owner`);
    assert.deepEqual((await gatherFacts(exec, [probe], [])).get(probe), { held: false });
    await killed.release();
  });
});

Deno.test("unlock: never signals a PID that does not hold the lock (forged record, reused PID, another start time)", async () => {
  await withApp(async (app) => {
    const exec = new ShellExecutor("root");
    const lock = await acquireLock(exec, app, owner("deploy"), 0);
    const other = bystander();
    try {
      const { pid: holder, started } = await ownerRecord(app);
      const cases = [
        { pid: other.pid, started: undefined, why: /does not have the lock file open/ },
        { pid: other.pid, started, why: /does not have the lock file open/ },
        { pid: holder, started: "1", why: /started at another time than the holder/ },
        { pid: 4_000_000, started, why: /no process 4000000 runs/ },
      ];
      for (const c of cases) {
        const r = await breakLock(exec, app, { pid: c.pid, started: c.started });
        assert.ok(
          typeof r === "object" && c.why.test(r.notHolder),
          `${c.pid}: ${JSON.stringify(r)}`,
        );
      }
      assert.equal(await alive(other.pid), true, "the bystander was not signalled");
      assert.equal(await alive(holder), true, "nor the holder, with a wrong start time");
      await lock.verify();
      // A record with shell in it parses to no PID at all.
      await Deno.writeTextFile(`${lockPath(app)}.owner`, `${other.pid};kill 1 1 {"holder":"x"}\n`);
      const state = await inspectLock(exec, app);
      assert.ok(state.held && state.record.pid === undefined);
      assert.deepEqual(await breakLock(exec, app, state.held ? state.record : {}), {
        notHolder: "its owner record names no process",
      });
      assert.equal(await alive(other.pid), true);
    } finally {
      other.kill();
      await other.status;
      await lock.release();
    }
  });
});

Deno.test("held lock: a process the app user leaves running in a root chain cannot forge or hide the failure of root's commands after it", async () => {
  // The switch is such a chain: the app user's link, then root's records. A forged failure would
  // fail a deploy whose traffic moved; a hidden one would pass a switch that did not happen.
  await withRoutedLock(async ({ dir, exec, routed }) => {
    const flag = join(dir, "flag1");
    const ok = await runChain(routed, [forger({ index: 0, code: 9, flag }), waitFor(flag)], {
      root: true,
      check: false,
    });
    assert.deepEqual(exec.own, [], "run by the shell that holds the lock");
    assert.equal(ok.failed, undefined, ok.stderr);
    assert.equal(ok.stdout.trim(), "root-done");
    const flag2 = join(dir, "flag2");
    const failed = await runChain(routed, [
      forger({ index: 2, code: 9, flag: flag2, now: true }),
      waitFor(flag2, 4),
      { argv: ["true"], as: "root" },
    ], { root: true, check: false });
    assert.deepEqual([failed.failed, failed.failedCode], [1, 4], failed.stderr);
    assert.deepEqual(exec.own, []);
  });
});

Deno.test("acquireLock: the hosts of a run that take the same lock with the same facts share one command (ssh quotes its 15 kB once)", async () => {
  class Holding extends ShellExecutor {
    held: RemoteCommand[] = [];
    override hold(cmd: RemoteCommand) {
      this.held.push(cmd);
      return super.hold(cmd);
    }
  }
  await withApp(async (app) => {
    const who = owner("deploy");
    const [a, b] = [new Holding("root"), new Holding("root")];
    for (const [exec, then] of [[a, "echo facts"], [b, "echo facts"], [b, "echo other"]] as const) {
      const lock = await acquireLock(exec, app, who, 0, then);
      assert.equal(lock.then?.stdout, `${then.slice(5)}\n`);
      await lock.release();
    }
    assert.equal(a.held[0], b.held[0], "the same object for the same lock and facts");
    assert.notEqual(b.held[1], b.held[0], "another script, another command");
    assert.equal(b.held[1].argv.at(-1), "echo other");
    // Another owner (another run) makes its own.
    const lock = await acquireLock(a, app, owner("rollback"), 0, "echo facts");
    await lock.release();
    assert.notEqual(a.held[1], a.held[0]);
    assert.match(a.held[1].argv.join(" "), /rollback/);
  });
});

Deno.test("openHost: a command left for the lock's end (the history's record) runs when the lock is given back, under it, in its shell; its exit code settles its promise", async () => {
  await withApp(async (app) => {
    const dir = await Deno.makeTempDir();
    try {
      const exec = new CountingExecutor("root");
      const host = { name: "local", app_name: app } as HostConfig;
      const plan = { probes: [], files: [] };
      const unlocked = openHost(new CountingExecutor("root"), host, plan);
      assert.equal(unlocked.exec.runAtEnd, undefined, "no lock, no end");
      await unlocked.opened;
      const opening = openHost(exec, host, plan, { owner: owner("deploy"), waitSeconds: 0 });
      await opening.opened;
      let settled = false;
      const atEnd = opening.exec.runAtEnd!({
        argv: ["sh", "-c", `flock -n ${lockPath(app)} true || echo held > ${dir}/lock; exit 5`],
        as: "root",
      });
      void atEnd.then(() => settled = true, () => settled = true);
      await assert.rejects(
        () => opening.exec.runAtEnd!({ argv: ["true"], as: "root" }),
        /one command at most/,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(settled, false, "it runs when the lock is given back");
      await opening.release();
      await assert.rejects(() => atEnd, (e: unknown) => e instanceof CommandError && e.code === 5);
      assert.equal(await Deno.readTextFile(`${dir}/lock`), "held\n", "under the lock");
      assert.deepEqual(exec.own, [], "in the lock's shell, not a process of its own");
      const next = await acquireLock(new ShellExecutor("root"), app, owner("deploy"), 0);
      await next.release();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
