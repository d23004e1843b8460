import assert from "node:assert/strict";
import { join } from "node:path";
import { chainCommand, runChain } from "../lib/exec/chain.ts";
import { CommandError } from "../lib/errors.ts";
import { RecordingExecutor } from "../lib/exec/recording_executor.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { shScript } from "../lib/exec/remote_command.ts";
import { withTempDir } from "./helpers/fixtures.ts";
import { forger, ShellExecutor, standInSudo, waitFor } from "./helpers/shell_executor.ts";

Deno.test("runChain: runs the commands in order in one round trip, each with its own input and folder", async () => {
  await withTempDir(async (dir) => {
    const exec = new ShellExecutor("root");
    const r = await runChain(exec, [
      { argv: shScript('cat > "$1"', join(dir, "a")), stdin: "it's a\n$HOME `x`" },
      { argv: ["sh", "-c", "cat a; echo; pwd"], cwd: dir },
      { argv: shScript('cat > "$1"', join(dir, "b")), stdin: "" },
      { argv: ["printf", "%s|", "one arg with spaces", "two"], env: { X: "1" } },
    ]);
    assert.equal(exec.stats.commands, 1);
    assert.equal(await Deno.readTextFile(join(dir, "a")), "it's a\n$HOME `x`");
    assert.equal(await Deno.readTextFile(join(dir, "b")), "");
    assert.equal(r.stdout, `it's a\n$HOME \`x\`\n${dir}\none arg with spaces|two|`);
  });
});

Deno.test("runChain: stops at the first command that fails and names it; okCodes count as success", async () => {
  await withTempDir(async (dir) => {
    const exec = new ShellExecutor("root");
    const cmds = [
      { argv: ["sh", "-c", "exit 5"], okCodes: [0, 5] },
      { argv: ["sh", "-c", "echo broken >&2; exit 3"] },
      { argv: ["touch", join(dir, "never")] },
    ];
    const r = await runChain(exec, cmds, { check: false });
    assert.equal(r.failed, 1);
    assert.equal(r.failedCode, 3);
    assert.equal(r.stderr, "broken");
    await assert.rejects(Deno.stat(join(dir, "never")), Deno.errors.NotFound);
    await assert.rejects(
      () => runChain(exec, cmds),
      (e: unknown) =>
        e instanceof CommandError && e.code === 3 && /echo broken/.test(e.command) &&
        /broken/.test(e.message),
    );
  });
});

Deno.test("runChain: a failing command's exit code 255 is not taken for a lost connection", async () => {
  const r = await runChain(new ShellExecutor("root"), [{ argv: ["sh", "-c", "exit 255"] }], {
    check: false,
  });
  assert.equal(r.failed, 0);
  assert.equal(r.failedCode, 255);
  assert.equal(r.code, 1);
});

Deno.test("chainCommand: a secret input is refused (arguments show in the process list)", () => {
  assert.throws(
    () => chainCommand([{ argv: ["cat"], stdin: new Secret("s3cret") }], "deploy"),
    /secret input cannot travel in a chain/,
  );
});

Deno.test("RecordingExecutor: a chain is one round trip, shown as its commands up to the first failure", async () => {
  const exec = new RecordingExecutor({
    host: "web-1",
    sshUser: "deploy",
    respond: (c) => c.argv[0] === "false" ? { code: 1, stderr: "no" } : undefined,
  });
  const r = await runChain(exec, [
    { argv: ["systemctl", "restart", "hello"], as: "root" },
    { argv: ["false"] },
    { argv: ["rm", "-rf", "/tmp/x"] },
  ], { check: false });
  assert.deepEqual(exec.lines(), ["sudo -n -H -- systemctl restart hello", "false"]);
  assert.equal(exec.stats.commands, 1);
  assert.equal(r.failed, 1);
  assert.equal(r.stderr, "no");
});

Deno.test("runChain: adjacent root commands share a sudo, the app user's get one each; inputs and failures keep their place", async () => {
  await withTempDir(async (dir) => {
    const env = await standInSudo(dir);
    const exec = new ShellExecutor("deploy", env);
    const put = (name: string, text: string, as?: string) => ({
      argv: shScript('cat > "$1"', join(dir, name)),
      stdin: text,
      as,
    });
    const r = await runChain(exec, [
      put("a", "A", "root"),
      { argv: ["sh", "-c", 'mkdir -p "$1"', "sh", join(dir, "made")], as: "root" },
      put("b", "B"),
      put("c", "C", "app"),
      { argv: ["sh", "-c", "exit 4"], as: "app" },
      { argv: ["touch", join(dir, "never")], as: "root" },
    ], { check: false });
    assert.equal(r.failed, 4);
    assert.equal(r.failedCode, 4);
    assert.equal(await Deno.readTextFile(join(dir, "a")), "A");
    assert.equal(await Deno.readTextFile(join(dir, "b")), "B");
    assert.equal(await Deno.readTextFile(join(dir, "c")), "C");
    assert.ok((await Deno.stat(join(dir, "made"))).isDirectory);
    await assert.rejects(Deno.stat(join(dir, "never")), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(join(dir, "sudo.log")), "root\napp\napp\n");
  });
});

Deno.test("runChain: ten inputs and more each reach their own command", async () => {
  await withTempDir(async (dir) => {
    const exec = new ShellExecutor("root");
    const cmds = Array.from({ length: 12 }, (_, i) => ({
      argv: shScript('cat > "$1"', join(dir, `f${i}`)),
      stdin: `input ${i}`,
    }));
    await runChain(exec, cmds);
    for (let i = 0; i < 12; i++) {
      assert.equal(await Deno.readTextFile(join(dir, `f${i}`)), `input ${i}`);
    }
  });
});

Deno.test("runChain: a process the app user leaves running cannot forge or hide the failure of a command after its own", async () => {
  await withTempDir(async (dir) => {
    const exec = new ShellExecutor("root", await standInSudo(dir));
    // Root's command succeeds while the app user's process claims the app user's command failed.
    const flag = join(dir, "flag1");
    const ok = await runChain(exec, [forger({ index: 0, code: 9, flag }), waitFor(flag)], {
      check: false,
    });
    assert.equal(ok.failed, undefined, ok.stderr);
    assert.equal(ok.stdout.trim(), "root-done", "what it wrote once its command ended is not read");
    // Root's command fails; the forged line names a later command (as if the switch had run and
    // only its cleanup failed).
    const flag2 = join(dir, "flag2");
    const failed = await runChain(exec, [
      forger({ index: 2, code: 9, flag: flag2 }),
      waitFor(flag2, 4),
      { argv: ["true"], as: "root" },
    ], { check: false });
    assert.deepEqual([failed.failed, failed.failedCode], [1, 4], failed.stderr);
  });
});

Deno.test("runChain: failure lines in the app user's own output change nothing: the chain's code and its last line decide", async () => {
  await withTempDir(async (dir) => {
    const exec = new ShellExecutor("root", await standInSudo(dir));
    const flag = join(dir, "flag");
    const cmds = [forger({ index: 0, code: 9, flag, now: true }), waitFor(flag)];
    const ok = await runChain(exec, cmds, { check: false });
    assert.equal(ok.failed, undefined, ok.stderr);
    const flag2 = join(dir, "flag2");
    const failed = await runChain(exec, [
      forger({ index: 2, code: 9, flag: flag2, now: true }),
      waitFor(flag2, 4),
      { argv: ["true"], as: "root" },
    ], { check: false });
    assert.deepEqual([failed.failed, failed.failedCode], [1, 4], failed.stderr);
  });
});
