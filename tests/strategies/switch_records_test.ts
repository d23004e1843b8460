/**
 * The switch of the slot strategies: the records of what is live are
 * written in the same round trip as the traffic move, before anything that
 * may fail; a cleanup that fails afterwards (a drain unit systemd refuses,
 * pruning) is a warning, never a failed deploy with records that lie; and
 * each run names its drain units, clearing any left behind first.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type NoteValue, noteValue } from "../../lib/engine/module_api.ts";
import { ACTIVATE } from "../../lib/strategies/strategy.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import { layoutFor } from "../../lib/host/layout.ts";
import { cgroupRetryLine, drainUnitsProbe } from "../../lib/strategies/slots.ts";
import { START_UNIT_SH } from "../../lib/strategies/programs.gen.ts";
import { loadTestProject, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import type { LoadedProject, ProbeAnswer } from "../helpers/fixtures.ts";
import {
  deployPlan,
  greenServesFacts,
  newRelease,
  type RecordedRun,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";
import type { Responder } from "../../lib/exec/recording_executor.ts";
import { line } from "../helpers/strategy_runs.ts";

const NEW = "20261126T070102Z-abc1234";
const COLLISION =
  "Failed to start transient service unit: Unit djaploy-drain-hello-green.service was already loaded or has a fragment file.";

interface Run extends RecordedRun {
  readonly chains: RemoteCommand[][];
  readonly loaded: LoadedProject;
}

/** A deploy on a host where green serves an older release of `strategy`. */
async function deployOverGreen(
  strategy: "zero_downtime" | "bluegreen",
  opts: {
    respond?: Responder;
    facts?: Record<string, ProbeAnswer>;
    notes?: readonly NoteValue[];
    verbose?: boolean;
  } = {},
): Promise<Run> {
  let run: Run | undefined;
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      `project_name = "hello"\ndeployment_strategy = "${strategy}"\n[health_check]\npath = "/healthz/"\n`,
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release = newRelease(artifactDir);
    const chains: RemoteCommand[][] = [];
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: await greenServesFacts(loaded, strategy, opts.facts),
      respond: opts.respond,
      release,
      notes: opts.notes,
      chains,
      verbose: opts.verbose,
    });
    run = { ...r, chains, loaded };
  });
  return run!;
}

const isSwitch = (c: RemoteCommand | undefined) =>
  c !== undefined && c.argv.includes("/run/djaploy/hello.sock") &&
  c.argv.includes("/run/hello-blue/hello.sock");
const isStateWrite = (c: RemoteCommand | undefined) =>
  c !== undefined && c.argv.includes("/var/lib/djaploy/apps/hello/state.json") &&
  c.stdin !== undefined;
const isDrain = (c: RemoteCommand | undefined) => c?.argv[0] === "systemd-run";
const isPrune = (c: RemoteCommand | undefined) => c?.argv[0] === "rm" && c.argv.includes("-rf");
const commands = (r: Run) => r.exec.recorded.map((c) => c.command);
const isCurrent = (r: Run) => (c: RemoteCommand | undefined) =>
  c !== undefined && c.argv.includes(layoutFor(r.loaded.host).currentLink);

/** The state.json the run wrote last. */
function writtenState(r: Run): Record<string, unknown> {
  const writes = r.exec.recorded.filter((c) => c.command && isStateWrite(c.command));
  assert.ok(writes.length > 0, "state.json was written");
  return JSON.parse(String(writes.at(-1)!.command!.stdin));
}

Deno.test("zero_downtime: the switch writes the records in the same round trip, before the cleanup", async () => {
  const r = await deployOverGreen("zero_downtime");
  assert.equal(r.result.ok, true, String(r.result.error));
  const chain = r.chains.find((c) => c.some(isSwitch));
  assert.ok(chain, "the traffic move is part of a chain");
  const at = (p: (c: RemoteCommand) => boolean) => chain.findIndex(p);
  const current = at(isCurrent(r));
  const release = at((c) => c.argv.some((a) => a.includes(".djaploy-release.json")));
  assert.equal(at(isSwitch), 0, "traffic moves first");
  assert.equal(at(isStateWrite), 1, "root's record comes right after, in the same sudo");
  assert.ok(release > 1 && current > 1, "the release's record and `current` are in the same chain");
  for (const cleanup of [at(isDrain), at(isPrune)]) {
    assert.ok(cleanup > Math.max(current, release), "cleanup comes after every record");
  }
  const state = writtenState(r);
  assert.equal(state.active, "blue");
  assert.equal(state.release, NEW);
});

Deno.test("zero_downtime: a drain systemd refuses after the switch is a warning; the records are true and pruning still runs", async () => {
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) => isDrain(cmd) ? { code: 1, stderr: COLLISION } : undefined,
  });
  assert.equal(r.result.ok, true, `the deploy succeeded: ${r.result.error}`);
  assert.match(r.err, /cleanup failed: .*systemd-run.*exit code 1.*already loaded/);
  const state = writtenState(r);
  assert.equal(state.active, "blue", "state.json names the slot that serves");
  assert.equal(state.release, NEW, "and the release it runs");
  const cmds = commands(r);
  assert.ok(cmds.findIndex(isPrune) > cmds.findIndex(isDrain), "the rest of the cleanup ran");
  assert.ok(cmds.some(isCurrent(r)), "current moved");
});

Deno.test("zero_downtime: a failed prune after the switch is a warning, not a failed deploy", async () => {
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) => isPrune(cmd) ? { code: 1, stderr: "rm: Read-only file system" } : undefined,
  });
  assert.equal(r.result.ok, true, `the deploy succeeded: ${r.result.error}`);
  assert.match(r.err, /cleanup failed: .*rm -rf.*Read-only file system/);
  assert.equal(writtenState(r).release, NEW);
});

Deno.test("zero_downtime: a failed traffic move fails the deploy and records nothing", async () => {
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) => isSwitch(cmd) ? { code: 1, stderr: "mv: cannot move" } : undefined,
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "switch traffic");
  const cmds = commands(r);
  const after = cmds.slice(cmds.findIndex(isSwitch));
  assert.ok(after.length > 0 && !after.some((c) => isStateWrite(c) || isDrain(c)));
});

Deno.test("bluegreen: deploy --activate with a drain that fails after the switch succeeds with a warning and true records", async () => {
  const r = await deployOverGreen("bluegreen", {
    notes: [noteValue(ACTIVATE, true)],
    facts: {
      // Taking over from in_place: its unit still runs and must drain.
      "slot-units": {
        out: unitsShowOutput({
          "hello-blue.service": "enabled inactive",
          "hello-green.service": "enabled active",
          "hello.service": "enabled active",
        }),
      },
    },
    respond: (cmd) => isDrain(cmd) ? { code: 1, stderr: COLLISION } : undefined,
  });
  assert.equal(r.result.ok, true, `the deploy succeeded: ${r.result.error}`);
  assert.match(r.err, /cleanup failed: .*systemd-run.*already loaded/);
  const chain = r.chains.find((c) => c.some(isSwitch))!;
  assert.ok(chain.findIndex(isStateWrite) < chain.findIndex(isDrain), "records before cleanup");
  const state = writtenState(r);
  assert.equal(state.active, "blue");
  assert.equal(state.release, NEW);
});

Deno.test("drain units: each run names its own, in the app's and slot's namespace", async () => {
  const names = [];
  for (let i = 0; i < 2; i++) {
    const r = await deployOverGreen("zero_downtime");
    const drain = commands(r).find(isDrain)!;
    const unit = drain.argv.find((a) => a.startsWith("--unit="))!.slice("--unit=".length);
    assert.match(unit, /^djaploy-drain-hello-green-r[0-9a-z]+\.service$/);
    names.push(unit);
  }
  assert.notEqual(names[0], names[1], "two runs never share a drain unit name");
});

Deno.test("drain units: drains of the slot left behind (any state, old fixed name too) are stopped and cleared before it starts", async () => {
  const r = await deployOverGreen("zero_downtime", {
    facts: {
      "drain-units": {
        out: [
          "djaploy-drain-hello-blue.service loaded failed failed /bin/sh -c ...",
          "djaploy-drain-hello-blue-rk2x9.service loaded active exited true",
          // Not a drain of this app's blue slot: left alone.
          "djaploy-drain-hello-blue-extra-r1.service loaded active running x",
          "djaploy-drain-hello-green-rzz.service loaded inactive dead x",
          "",
        ].join("\n"),
      },
    },
  });
  assert.equal(r.result.ok, true, String(r.result.error));
  const lines = r.exec.lines();
  const both = "djaploy-drain-hello-blue.service djaploy-drain-hello-blue-rk2x9.service";
  const stop = lines.findIndex((l) => l.endsWith(`systemctl stop -- ${both}`));
  const reset = lines.findIndex((l) => l.endsWith(`systemctl reset-failed -- ${both}`));
  const restart = lines.indexOf(line.start("hello-blue.service"));
  assert.ok(stop >= 0 && stop < reset && reset < restart, lines.join("\n"));
  assert.ok(!lines.some((l) => l.includes("hello-blue-extra")), "another unit is left alone");
});

Deno.test("drain units probe: parses list-units, with or without the bullet of a failed unit", () => {
  const host = {
    app_name: "hello",
    app_user: "hello",
    manage_py: "manage.py",
  } as unknown as Parameters<typeof drainUnitsProbe>[0];
  const probe = drainUnitsProbe(host, layoutFor(host));
  assert.deepEqual(probe.argv.slice(-2), [
    "djaploy-drain-hello-blue*",
    "djaploy-drain-hello-green*",
  ]);
  const parsed = probe.parse(
    "● djaploy-drain-hello-green-rab.service loaded failed failed drain\n" +
      "djaploy-drain-hello-blue.service loaded activating start drain\n" +
      "djaploy-drain-hello-bluex.service loaded active running other\n",
    0,
  );
  assert.deepEqual(parsed, [
    {
      name: "djaploy-drain-hello-green-rab.service",
      target: "hello-green.service",
      active: "failed",
    },
    {
      name: "djaploy-drain-hello-blue.service",
      target: "hello-blue.service",
      active: "activating",
    },
  ]);
});

const isStart = (cmd: RemoteCommand) => cmd.argv[2] === START_UNIT_SH;

Deno.test("startSlot: the slot starts in one command that tries a CGROUP failure again on the host; what it says is shown", async () => {
  const retried = cgroupRetryLine("hello-blue.service");
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) => isStart(cmd) ? { stdout: `${retried}\n` } : undefined,
  });
  assert.equal(r.result.ok, true, String(r.result.error));
  const starts = commands(r).filter((c) => c && isStart(c));
  assert.equal(starts.length, 1, "one start command");
  assert.deepEqual(starts[0]!.argv.slice(3), ["sh", "hello-blue.service"]);
  assert.equal(starts[0]!.as, "root");
  assert.ok(
    !commands(r).some((c) => c?.argv.includes("--property=ExecMainStatus")),
    "no round trip of its own to ask systemd why a start failed",
  );
  assert.ok(r.out.includes(retried), r.out);
  assert.equal(writtenState(r).active, "blue");
});

Deno.test("startSlot: under -v the CGROUP retry line is shown once, and the rest of the start's output too", async () => {
  const retried = cgroupRetryLine("hello-blue.service");
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) => isStart(cmd) ? { stdout: `${retried}\nstarted at last\n` } : undefined,
    verbose: true,
  });
  assert.equal(r.result.ok, true, String(r.result.error));
  const shown = (r.out + r.err).split(retried).length - 1;
  assert.equal(shown, 1, r.out + r.err);
  assert.ok((r.out + r.err).includes("started at last"), r.out + r.err);
});

Deno.test("startSlot: a start that fails (at once, or after the retries on the host) stops the slot and names it", async () => {
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) =>
      isStart(cmd) ? { code: 1, stderr: "Job for hello-blue.service failed" } : undefined,
  });
  assert.equal(r.result.ok, false);
  assert.match(String(r.result.error), /hello-blue\.service did not start/);
  assert.equal(commands(r).filter((c) => c && isStart(c)).length, 1);
  assert.ok(r.exec.lines().some((l) => l.endsWith("systemctl stop hello-blue.service")));
  assert.ok(!commands(r).some(isStateWrite), "nothing says blue serves");
});

const isReleaseRecord = (c: RemoteCommand | undefined) =>
  c !== undefined && c.argv.some((a) => a.includes(".djaploy-release.json"));

Deno.test("zero_downtime: a full disk after the switch (no room for the release's record) is a warning; root's records are true and the cleanup still runs", async () => {
  const r = await deployOverGreen("zero_downtime", {
    respond: (cmd) =>
      isReleaseRecord(cmd)
        ? { code: 1, stderr: "sh: 1: cannot create: No space left on device" }
        : undefined,
  });
  assert.equal(r.result.ok, true, `the deploy succeeded: ${r.result.error}`);
  assert.match(r.err, /No space left on device/);
  const state = writtenState(r);
  assert.equal(state.active, "blue", "state.json names the slot that serves");
  assert.equal(state.release, NEW);
  const cmds = commands(r);
  assert.ok(cmds.findIndex(isDrain) > cmds.findIndex(isReleaseRecord), "the old slot drains");
  assert.ok(cmds.some(isCurrent(r)), "current moved");
});

Deno.test("zero_downtime: the release root's record names as live is never pruned, even without its own record and with `current` behind", async () => {
  const layout = (r: Run) => layoutFor(r.loaded.host);
  // green serves release 7 (state.json), whose own record a full disk kept from being written,
  // and `current` still names release 6.
  const r = await deployOverGreen("zero_downtime", {
    facts: {
      "current-link": { out: `/home/app/apps/hello/releases/20261120T000006Z-0000000\n` },
      "releases": {
        out: [1, 2, 3, 4, 5, 6].map((n) =>
          `20261120T00000${n}Z-0000000\t${
            JSON.stringify({ release: `20261120T00000${n}Z-0000000` })
          }\n`
        ).join("") + "20261120T000007Z-0000000\t\n",
      },
    },
  });
  assert.equal(r.result.ok, true, String(r.result.error));
  const pruned = commands(r).filter(isPrune).flatMap((c) => c!.argv.slice(3));
  assert.ok(pruned.length > 0, "pruning had work to do");
  assert.ok(
    !pruned.includes(`${layout(r).releasesDir}/20261120T000007Z-0000000`),
    `the live release was pruned: ${pruned}`,
  );
});
