import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/engine/module_api.ts";
import { dependencyPlan } from "../../lib/deploy/dependencies.ts";
import { layoutFor, venvDir } from "../../lib/host/layout.ts";
import { noteValue } from "../../lib/engine/module_api.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import { ACTIVATE } from "../../lib/strategies/strategy.ts";
import { strategyFor } from "../../lib/strategies/registry.ts";
import { activateStep } from "../../lib/strategies/bluegreen.ts";
import { slotFacts, slotFiles } from "../../lib/strategies/slots.ts";
import {
  isHealthCheck,
  isMigrate,
  isSwitch,
  line,
  NEW,
  OLD,
  OLD_VENV,
  runStrategy,
  type StrategyRun,
  unitsAnswer,
} from "../helpers/strategy_runs.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  deployPlan,
  newRelease,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";

/**
 * The live slot (blue) runs this very code, so the staging slot (green) is
 * not uploaded unless something changes: it may hold older code, or none.
 * migrate's check must run in blue, which holds the code being deployed.
 */
Deno.test("bluegreen: redeploying the live code asks the database from the live slot, not the stale staging one", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\ndeployment_strategy = "bluegreen"\n',
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = { ...newRelease(artifactDir), tree: "tree-live" };
    const { hash } = await dependencyPlan(loaded.host, artifactDir);
    const venv = venvDir(layoutFor(loaded.host), hash, "3.11");
    const record = {
      release: "20261125T000000Z-abc1234",
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-live",
      venv,
      deployed_at: "2026-11-25T00:00:00.000Z",
      environment: "test",
    };
    const state = {
      strategy: "bluegreen",
      ...record,
      active: "blue",
      slots: { blue: { ...record, state: "active" } },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(state) },
        "venvs": { out: `${venv}\n` },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "live-static": { out: "/home/app/apps/hello/shared/staticfiles-blue\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled active",
            "hello-green.service": "enabled inactive",
          }),
        },
      }),
      release,
      respond: (cmd) =>
        cmd.argv.some((a) => a.includes('MIGRATE = "check"'))
          ? { stdout: "djaploy: 0 migrations to apply\n" }
          : undefined,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const migrate = r.exec.lines().find((l) => l.includes("manage.py shell -c"));
    assert.ok(
      migrate?.startsWith("sudo -n -H -u app -- env -C /home/app/apps/hello/slots/blue "),
      migrate,
    );
    assert.match(migrate!, new RegExp(` ${venv}/bin/python manage\\.py shell -c `));
    // green gets the code only afterwards (here, because a unit file changed).
    const lines = r.exec.lines();
    const upload = lines.findIndex((l) => l.includes("-> /home/app/apps/hello/slots/green/"));
    assert.ok(upload === -1 || upload > lines.indexOf(migrate!), lines.join("\n"));
  });
});

const DJAPLOY_TOML = `project_name = "hello"
deployment_strategy = "bluegreen"

[health_check]
path = "/healthz/"
`;

const SHARED = "/home/app/apps/hello/shared";
const venv = (c: string) => `${SHARED}/venv-${c.repeat(16)}-py3.11`;
const rec = (release: string, v: string) => ({
  release,
  commit: "c",
  ref: "main",
  tree: `tree-${release}`,
  venv: v,
  deployed_at: "2026-11-20T00:00:00Z",
  environment: "test",
});

Deno.test("bluegreen: activate keeps the two slots' virtualenvs and removes older ones, in the switch's round trip", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, DJAPLOY_TOML);
    const layout = layoutFor(loaded.host);
    const state = {
      strategy: "bluegreen",
      ...rec("r2", venv("b")),
      active: "blue",
      slots: {
        blue: { ...rec("r2", venv("b")), state: "active" },
        green: { ...rec("r3", venv("c")), state: "staged" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: {
        steps: [activateStep],
        probes: slotFacts(loaded.host, layout),
        files: slotFiles(loaded.host, layout),
        packages: [],
      },
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(state) },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "live-static": { out: "/home/app/apps/hello/shared/staticfiles-blue\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled active",
            "hello-green.service": "enabled active",
          }),
        },
        // a: what blue ran before r2, then unused.
        "venvs": { out: [venv("a"), venv("b"), venv("c")].join("\n") + "\n" },
      }),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    assert.equal(lines.filter((l) => l.includes("rm -rf")).length, 1, lines.join("\n"));
    const rm = lines.find((l) => l.includes("rm -rf"))!;
    assert.ok(rm.endsWith(`-u app -- rm -rf -- ${venv("a")}`), rm);
    assert.deepEqual(r.result.steps[0].changes.filter((c) => c.startsWith("removed")), [
      `removed 1 unused virtualenv: venv-${"a".repeat(16)}-py3.11`,
    ]);
  });
});

// Host-free runs of the whole strategy (tests/helpers/strategy_runs.ts): green serves
// release 7, blue runs release 6, staged; the exact commands, in order.

const BLUE = "/run/hello-blue/hello.sock";
const BLUE_DIR = "/home/app/apps/hello/slots/blue";
const BLUE_STATIC = "/home/app/apps/hello/shared/staticfiles-blue";
const failHealth = (cmd: RemoteCommand) =>
  isHealthCheck(BLUE)(cmd)
    ? { code: 1, stderr: "djaploy: /healthz/ answered HTTP 500\n" }
    : undefined;

/** What every deploy of NEW sends until its slot answers. */
function untilStarted(r: StrategyRun): string[] {
  return [
    line.app(`sh -c '[ -L "$1" ] && rm -f "$1"; mkdir -p "$1"' sh ${BLUE_DIR}`),
    line.upload(BLUE_DIR),
    line.root("systemctl enable --quiet hello-slots.service"),
    line.buildVenv(r.venv, BLUE_DIR),
    line.manage(BLUE_DIR, r.venv, BLUE_STATIC),
    line.unitFile("blue"),
    line.root("systemctl daemon-reload"),
    line.start("hello-blue.service"),
    line.health(BLUE),
  ];
}

/** The state.json a run wrote last. */
function lastState(
  r: StrategyRun,
): Record<string, unknown> & { slots: Record<string, { state: string; release: string }> } {
  const writes = r.exec.recorded.filter((c) =>
    c.command?.argv.includes("/var/lib/djaploy/apps/hello/state.json")
  );
  return JSON.parse(String(writes.at(-1)!.command!.stdin));
}

Deno.test("bluegreen deploy: stages the new release in the idle slot, records it staged, and moves no traffic", async () => {
  const r = await runStrategy("bluegreen");
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.deepEqual(r.lines, [...untilStarted(r), line.state("green")]);
  const state = lastState(r);
  assert.equal(state.active, "green");
  assert.equal(state.release, OLD(7), "the live release stays the top-level record");
  assert.deepEqual(state.slots.blue.state, "staged");
  assert.equal(state.slots.blue.release, NEW);
  assert.match(r.out, /activate it with: djaploy activate --env test/);
});

Deno.test("bluegreen deploy --activate: stages, then checks the slot again and switches in one round trip", async () => {
  const r = await runStrategy("bluegreen", { notes: [noteValue(ACTIVATE, true)] });
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.deepEqual(r.lines, [
    ...untilStarted(r),
    line.state("green"),
    line.health(BLUE),
    line.switchTo(BLUE, BLUE_STATIC),
    line.state("blue"),
  ]);
  const state = lastState(r);
  assert.equal(state.active, "blue");
  assert.equal(state.slots.blue.state, "active");
  assert.equal(state.slots.green.state, "staged", "green keeps running: rollback switches back");
});

Deno.test("bluegreen deploy: a failed health check stops the staged slot and records it failed; traffic stays", async () => {
  const r = await runStrategy("bluegreen", {
    respond: failHealth,
    notes: [noteValue(ACTIVATE, true)],
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "start staged slot");
  assert.match(String(r.result.error), /Fix the app on web1: the health check failed: .*HTTP 500/);
  assert.deepEqual(r.lines, [
    ...untilStarted(r),
    line.root("systemctl stop hello-blue.service"),
    line.diagnose(BLUE_DIR, r.venv, BLUE_STATIC),
    line.state("green"),
  ]);
  const state = lastState(r);
  assert.equal(state.active, "green");
  assert.equal(state.slots.blue.state, "failed");
});

Deno.test("bluegreen deploy: a failed migrate stops the host there: nothing starts, nothing is recorded", async () => {
  const r = await runStrategy("bluegreen", {
    respond: (cmd) =>
      isMigrate(cmd) ? { code: 1, stderr: "OperationalError: no such table\n" } : undefined,
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "migrate and collectstatic");
  assert.deepEqual(r.lines, untilStarted(r).slice(0, 5));
});

Deno.test("bluegreen activate: checks the staged slot, switches and records in one round trip; green keeps running", async () => {
  const r = await runStrategy("bluegreen", { run: "activate" });
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.deepEqual(r.lines, [
    line.health(BLUE),
    line.switchTo(BLUE, BLUE_STATIC),
    line.state("blue"),
  ]);
  assert.deepEqual(r.result.steps[0].changes, [
    `traffic -> ${BLUE}`,
    `activated blue (${OLD(6)})`,
  ]);
});

Deno.test("bluegreen rollback to a slot last started before static files were per slot: nginx serves shared/staticfiles again", async () => {
  // Upgraded from a djaploy whose releases shared shared/staticfiles: blue never made its folder.
  const r = await runStrategy("bluegreen", {
    run: { rollback: undefined },
    facts: { "slot-static": { out: "/home/app/apps/hello/shared/staticfiles-green\n" } },
  });
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.equal(r.lines[1], line.switchTo(BLUE, "/home/app/apps/hello/shared/staticfiles"));
});

Deno.test("bluegreen activate: a staged slot that fails its health check gets no traffic and no record", async () => {
  const r = await runStrategy("bluegreen", { run: "activate", respond: failHealth });
  assert.equal(r.result.ok, false);
  assert.match(String(r.result.error), /the health check failed/);
  assert.deepEqual(r.lines, [line.health(BLUE), line.diagnose(BLUE_DIR, OLD_VENV, BLUE_STATIC)]);
  assert.deepEqual(
    r.result.steps[0].changes,
    [],
    "no change is reported for a switch that did not happen",
  );
});

Deno.test("bluegreen activate: a connection lost during the switch fails the host; nothing is recorded or reported", async () => {
  const r = await runStrategy("bluegreen", { run: "activate", loseConnection: isSwitch });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "activate");
  assert.match(String(r.result.error), /Cannot connect to web1 .*closed by remote host/);
  assert.deepEqual(r.lines, [line.health(BLUE), line.switchTo(BLUE, BLUE_STATIC)]);
  assert.deepEqual(r.result.steps[0].changes, []);
});

Deno.test("bluegreen activate: nothing staged, or a staged slot that is not running, is refused before anything is sent", async () => {
  const none = await runStrategy("bluegreen", {
    run: "activate",
    facts: {
      "deploy-state": {
        out: JSON.stringify({
          strategy: "bluegreen",
          release: OLD(7),
          commit: "c",
          ref: "main",
          tree: "t",
          venv: OLD_VENV,
          deployed_at: "x",
          environment: "test",
          active: "green",
          slots: {},
        }),
      },
    },
  });
  assert.match(String(none.result.error), /Deploy first: nothing is staged on web1/);
  const down = await runStrategy("bluegreen", {
    run: "activate",
    facts: {
      "slot-units": unitsAnswer({
        "hello-blue.service": "enabled failed",
        "hello-green.service": "enabled active",
      }),
    },
  });
  assert.match(
    String(down.result.error),
    /Deploy again: the staged slot blue on web1 is not running/,
  );
  assert.deepEqual([...none.lines, ...down.lines], []);
});

Deno.test("bluegreen rollback: an instant switch back to the other slot, checked first", async () => {
  const r = await runStrategy("bluegreen", { run: { rollback: undefined } });
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.deepEqual(r.lines, [
    line.health(BLUE),
    line.switchTo(BLUE, BLUE_STATIC),
    line.state("blue"),
  ]);
  assert.match(r.out, /web1 serves 20261120T000006Z-0000006 \(c6\) from blue/);
});

Deno.test("bluegreen rollback: a connection lost during the switch fails the host and sends nothing more", async () => {
  const r = await runStrategy("bluegreen", {
    run: { rollback: undefined },
    loseConnection: isSwitch,
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "rollback");
  assert.deepEqual(r.lines, [line.health(BLUE), line.switchTo(BLUE, BLUE_STATIC)]);
});

Deno.test("bluegreen rollback: an other slot that is not running is refused; --release is refused", async () => {
  const down = await runStrategy("bluegreen", {
    run: { rollback: undefined },
    facts: {
      "slot-units": unitsAnswer({
        "hello-blue.service": "enabled inactive",
        "hello-green.service": "enabled active",
      }),
    },
  });
  assert.match(
    String(down.result.error),
    /Cannot roll back on web1: hello-blue.service is not running/,
  );
  assert.deepEqual(down.lines, []);
  const host = { name: "web1", deployment_strategy: "bluegreen" } as HostConfig;
  assert.throws(
    () => strategyFor(host).rollback(host, OLD(5)),
    /Drop --release: bluegreen rolls back to the other slot/,
  );
});
