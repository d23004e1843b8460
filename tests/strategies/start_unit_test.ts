/**
 * lib/strategies/start_unit.sh, the program that starts a slot: run by the
 * real sh with a stand-in for systemctl (and sleep) on PATH that fails the
 * first starts the way systemd does on a host with a hybrid cgroup setup.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { START_UNIT_SH } from "../../lib/strategies/programs.gen.ts";
import { cgroupRetryLine } from "../../lib/strategies/slots.ts";
import { withTempDir } from "../helpers/fixtures.ts";

/**
 * Runs the program for hello-blue.service where the first `failures` starts
 * fail with `status` as ExecMainStatus; returns its exit code, stdout and the
 * systemctl and sleep calls it made.
 */
async function start(failures: number, status = 219) {
  return await withTempDir(async (dir) => {
    const calls = join(dir, "calls");
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    const fake = (body: string) => `#!/bin/sh\necho "$(basename "$0") $*" >> ${calls}\n${body}\n`;
    await Deno.writeTextFile(
      join(bin, "systemctl"),
      fake(`case $1 in
  restart) n=$(grep -c '^systemctl restart' ${calls}); [ "$n" -gt ${failures} ] || exit 1 ;;
  show) echo ${status} ;;
esac
exit 0`),
      { mode: 0o755 },
    );
    await Deno.writeTextFile(join(bin, "sleep"), fake("exit 0"), { mode: 0o755 });
    const r = await new Deno.Command("sh", {
      args: ["-c", START_UNIT_SH, "sh", "hello-blue.service"],
      env: { PATH: `${bin}:/usr/bin:/bin` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = await Deno.readTextFile(calls);
    return {
      code: r.code,
      stdout: new TextDecoder().decode(r.stdout),
      calls: text.trim().split("\n"),
    };
  });
}

const RESTART = "systemctl restart -- hello-blue.service";
const SHOW = "systemctl show --property=ExecMainStatus --value -- hello-blue.service";
const RESET = "systemctl reset-failed -- hello-blue.service";
// What startSlot looks for in the program's output, to show it.
const SAID = `${cgroupRetryLine("hello-blue.service")}\n`;

Deno.test("start_unit.sh: a start that succeeds is one systemctl restart", async () => {
  const r = await start(0);
  assert.deepEqual(r, { code: 0, stdout: "", calls: [RESTART] });
});

Deno.test("start_unit.sh: a start that fails at the CGROUP step is cleared and tried again after a pause, and says so", async () => {
  const r = await start(1);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, SAID);
  assert.deepEqual(r.calls, [RESTART, SHOW, "sleep 0.25", RESET, RESTART]);
});

Deno.test("start_unit.sh: up to three more starts with growing pauses; a fourth failure fails", async () => {
  const three = await start(3);
  assert.equal(three.code, 0);
  assert.equal(three.stdout, SAID.repeat(3));
  assert.deepEqual(
    three.calls.filter((c) => c.startsWith("sleep")),
    ["sleep 0.25", "sleep 0.5", "sleep 0.75"],
  );
  const four = await start(4);
  assert.equal(four.code, 1);
  assert.equal(four.calls.filter((c) => c === RESTART).length, 4);
  assert.equal(four.calls.at(-1), RESTART, "no question after the last start");
});

Deno.test("start_unit.sh: a start that fails for another reason fails at once", async () => {
  const r = await start(5, 1);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.deepEqual(r.calls, [RESTART, SHOW]);
});
