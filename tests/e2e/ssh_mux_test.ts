/**
 * End to end, exitMaster (lib/exec/ssh_mux.ts) against a real OpenSSH master
 * connected to a test host: the master it asks to exit is gone, its socket
 * with it; no socket is "unavailable" (djaploy then runs `ssh -O exit`).
 * tests/ssh_mux_test.ts checks the packets against stand-in masters.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { e2eTest, withHosts } from "./harness.ts";
import { run } from "./harness/run.ts";
import { exitMaster } from "../../lib/exec/ssh_mux.ts";

e2eTest("ssh mux: exitMaster ends a real OpenSSH master through its control socket", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const dir = await Deno.makeTempDir({ prefix: "djaploy-mux-" });
    try {
      const socket = join(dir, "master");
      const common = [
        ...["-i", host.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
        ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
        ...["-o", "LogLevel=ERROR", "-o", `ControlPath=${socket}`],
      ];
      const check = () => run("ssh", [...common, "-O", "check", `deploy@${host.ip}`]);
      const start = await run("ssh", [
        ...common,
        ...["-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-fN", `deploy@${host.ip}`],
      ], { timeoutMs: 60_000 });
      assert.equal(start.code, 0, `master did not start: ${start.stderr}`);
      assert.equal((await check()).code, 0, "the master runs before exitMaster");

      assert.equal(await exitMaster(socket), "exited");
      // The master removes its socket as it exits.
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && await Deno.lstat(socket).then(() => true, () => false)) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await assert.rejects(Deno.lstat(socket), "the socket is gone");
      assert.notEqual((await check()).code, 0, "no master answers any more");

      assert.equal(await exitMaster(socket), "unavailable");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
