/**
 * End to end, the transient units that drain an old slot: systemd may keep
 * one loaded after it ended (a failed stop, a cgroup it could not kill), and
 * a later deploy must neither collide with it nor be stopped by it. Units of
 * the names djaploy used before (one fixed name per slot) and of this
 * version's kind are left behind on purpose, loaded, and deploys go on.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, makeProject, type TestHost, withHosts } from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Loaded drain units of the app, as `UNIT ACTIVE` lines. */
async function drainUnits(host: TestHost): Promise<string[]> {
  const out = await onHost(
    host,
    "systemctl list-units --all --plain --no-legend --no-pager 'djaploy-drain-hello-*'",
  );
  return out.split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/)).map((w) =>
    `${w[0]} ${w[2]}`
  );
}

e2eTest("drain units left loaded by systemd never wedge the next deploys", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
    ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
    const deploy = async (text: string) => {
      await project.write("pages/message.txt", `${text}\n`);
      const commit = await project.commit(text);
      const r = await djaploy(project, ["deploy", "--env", "test"]);
      ok(r, `deploy ${text}`);
      assert.equal(await pageMessage(host), text);
      const state = JSON.parse(
        await onHost(host, "sudo -n cat /var/lib/djaploy/apps/hello/state.json"),
      );
      assert.equal(state.commit, commit, `state.json names what serves after ${text}`);
      return r;
    };
    await deploy("One"); // blue
    await deploy("Two"); // green; blue drains in a unit of this run's name

    // The drain of deploy Two ends (and is collected) first: the leftovers are ours alone.
    for (let i = 0; i < 100 && (await drainUnits(host)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(await drainUnits(host), [], "the drain of deploy Two ended");
    // Leftovers, as a wedged host has them: the old fixed names (one ended
    // but loaded, one failed) and one of this version's kind still active.
    const leftovers = {
      "djaploy-drain-hello-blue.service": "--remain-after-exit true",
      "djaploy-drain-hello-green.service": "false",
      "djaploy-drain-hello-green-rleftover.service": "--remain-after-exit true",
    };
    for (const [unit, how] of Object.entries(leftovers)) {
      await onHost(host, `sudo -n systemd-run --quiet --unit=${unit} ${how}`);
    }
    await new Promise((r) => setTimeout(r, 300)); // `false` has failed
    const left = await drainUnits(host);
    for (const unit of Object.keys(leftovers)) {
      assert.ok(left.some((u) => u.startsWith(`${unit} `)), `left behind: ${unit} (${left})`);
    }
    assert.ok(left.includes("djaploy-drain-hello-green.service failed"), String(left));

    // Blue starts (its leftover is cleared first), green drains in a unit of its own name.
    await deploy("Three");
    // Green starts (its leftovers cleared), blue drains.
    const four = await deploy("Four");
    assert.doesNotMatch(four.output, /already loaded|did not start|cleanup failed/);
    const after = await drainUnits(host);
    for (const fixed of ["djaploy-drain-hello-blue.service", "djaploy-drain-hello-green.service"]) {
      assert.ok(!after.some((u) => u.startsWith(`${fixed} `)), `${fixed} cleared: ${after}`);
    }
    assert.ok(!after.some((u) => u.includes("rleftover")), `the leftover was cleared: ${after}`);
    assert.equal(await onHost(host, "systemctl is-active hello-green.service"), "active");
    assert.equal(
      await onHost(host, "readlink /run/djaploy/hello.sock"),
      "/run/hello-green/hello.sock",
    );
  });
});
