import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/engine/module_api.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  deployPlan,
  newRelease,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";
import {
  isHealthCheck,
  isMigrate,
  isSwitch,
  line,
  NEW,
  OLD,
  OLD_VENV,
  oldRecord,
  RELEASES,
  runStrategy,
  type StrategyRun,
} from "../helpers/strategy_runs.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import { strategyFor } from "../../lib/strategies/registry.ts";

const DJAPLOY_TOML = `project_name = "hello"
deployment_strategy = "zero_downtime"

[health_check]
path = "/healthz/"
`;

/**
 * A run was killed after it moved the live link to green but before it wrote
 * state.json, which still says blue. The next deploy must take the link's
 * word: green serves, so the new release starts in blue, and green is not
 * restarted under its visitors.
 */
Deno.test("zero_downtime: the live link, not a stale state.json, decides which slot serves", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, DJAPLOY_TOML);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = newRelease(artifactDir);
    const stale = {
      strategy: "zero_downtime",
      release: "r1",
      commit: "c1",
      ref: "main",
      tree: "tree-old",
      venv: "/v",
      deployed_at: "2026-11-26T00:00:00Z",
      environment: "test",
      active: "blue",
      slots: {
        blue: { state: "active", release: "r1" },
        green: { state: "staged", release: "r2" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(stale) },
        "live-socket": { out: "/run/hello-green/hello.sock\n" },
        "live-static": { out: "/home/app/apps/hello/shared/staticfiles-green\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled inactive",
            "hello-green.service": "enabled active",
          }),
        },
        // The run before stopped blue moments ago and its drain is still pending.
        "drain-units": {
          out: "djaploy-drain-hello-blue-rmx1.service loaded active running /bin/sh -c ...\n",
        },
      }),
      release,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines().join("\n");
    assert.ok(lines.includes(line.start("hello-blue.service")), "the new release starts in blue");
    assert.ok(!lines.includes(line.start("hello-green.service")), "the serving slot is left alone");
    assert.match(
      lines,
      /\/run\/djaploy\/hello\.sock \/run\/hello-blue\/hello\.sock/,
      "traffic moves to blue",
    );
    // That drain would stop the release this run starts in blue.
    const recorded = r.exec.lines();
    const cancel = recorded.findIndex((l) =>
      l.endsWith("systemctl stop -- djaploy-drain-hello-blue-rmx1.service")
    );
    const restart = recorded.findIndex((l) => l === line.start("hello-blue.service"));
    assert.ok(cancel >= 0 && cancel < restart, "a pending drain of blue is cancelled first");
  });
});

/**
 * No health endpoint configured: the new slot is still probed, at `/`,
 * where any 2xx or 3xx counts. A 400 fails at once: traffic does not move,
 * and the error replays the request in the slot's code and names the slot's unit.
 */
Deno.test("zero_downtime: with no path configured, / is probed before traffic moves; a 400 keeps traffic where it is", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\ndeployment_strategy = "zero_downtime"\n',
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = newRelease(artifactDir);
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release,
      respond: (cmd) =>
        cmd.argv[0] === "python3" && cmd.argv[2].startsWith("import re, socket")
          ? {
            code: 1,
            stderr: "GET / with Host: 10.0.0.1 answered HTTP 400 (Bad Request) after 1 try, " +
              "expected HTTP 200-399\n",
          }
          : undefined,
    });
    assert.equal(r.result.ok, false);
    const lines = r.exec.lines();
    const probe = lines.find((l) =>
      l.startsWith("sudo -n -H -u app -- python3 -c 'import re, socket")
    );
    assert.equal(
      probe,
      "sudo -n -H -u app -- python3 -c 'import re, socket, sys, time…' /run/hello-blue/hello.sock / 10.0.0.1 200-399 100 0.1",
    );
    assert.ok(!lines.some((l) => l.includes("/run/djaploy/hello.sock")), "traffic did not move");
    const err = r.result.error as Error & { hint?: string };
    assert.match(err.message, /with Host: 10\.0\.0\.1 answered HTTP 400/);
    assert.match(err.message, /add "10\.0\.0\.1" to ALLOWED_HOSTS/);
    assert.equal(err.hint, "See the app's log: journalctl -u hello-blue.service -n 50");
    const diagnosis = lines.find((l) => l.includes("timeout 60"))!;
    assert.match(
      diagnosis,
      /^sudo -n -H -u app -- env -C \/home\/app\/apps\/hello\/slots\/blue timeout 60 \/etc\/djaploy\/apps\/hello\/run env STATIC_ROOT=\/home\/app\/apps\/hello\/shared\/staticfiles-blue \/home\/app\/apps\/hello\/shared\/venv-[0-9a-f]+-py3\.11\/bin\/python manage\.py shell -c /,
    );
  });
});

Deno.test("zero_downtime: [health_check] enabled = false is the one way to move traffic unchecked", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\ndeployment_strategy = "zero_downtime"\n[health_check]\nenabled = false\n',
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: { name: "r1", artifactDir, commit: "abc", ref: "main", tree: "t" },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    // Whoever runs it, whatever wraps it: no line carries the probe.
    assert.ok(!r.exec.lines().some((l) => l.includes("python3 -c 'import re, socket")));
  });
});

Deno.test("zero_downtime: after the switch, old releases go and so do the virtualenvs no kept release uses", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, "keep_releases = 2\n" + DJAPLOY_TOML);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = newRelease(artifactDir);
    const shared = "/home/app/apps/hello/shared";
    const venv = (c: string) => `${shared}/venv-${c.repeat(16)}-py3.11`;
    const rec = (name: string, v: string) => ({
      release: name,
      commit: "c",
      ref: "main",
      tree: `tree-${name}`,
      venv: v,
      deployed_at: "2026-11-20T00:00:00Z",
      environment: "test",
    });
    const releases = [
      ["20261120T000000Z-0000001", venv("a")],
      ["20261121T000000Z-0000002", venv("b")],
      ["20261122T000000Z-0000003", venv("c")],
    ].map(([n, v]) => `${n}\t${JSON.stringify(rec(n, v))}`).join("\n");
    const live = {
      strategy: "zero_downtime",
      ...rec("20261122T000000Z-0000003", venv("c")),
      active: "blue",
      slots: {
        blue: { ...rec("20261122T000000Z-0000003", venv("c")), state: "active" },
        green: { ...rec("20261121T000000Z-0000002", venv("b")), state: "stopped" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(live) },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "live-static": { out: "/home/app/apps/hello/shared/staticfiles-blue\n" },
        "current-link": { out: "/home/app/apps/hello/releases/20261122T000000Z-0000003\n" },
        "releases": { out: releases + "\n" },
        // d: a build of a lock file no release kept (a failed deploy's).
        "venvs": { out: [venv("a"), venv("b"), venv("c"), venv("d")].join("\n") + "\n" },
      }),
      release,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    const releasesDir = "/home/app/apps/hello/releases";
    const rmReleases = lines.findIndex((l) => l.includes(`rm -rf -- ${releasesDir}/`));
    const rmVenvs = lines.findIndex((l) => l.includes(`rm -rf -- ${shared}/`));
    assert.ok(rmReleases >= 0 && rmVenvs > rmReleases, lines.join("\n"));
    // keep_releases = 2: the new one and 0000003 (live until now) stay, with their venvs.
    assert.match(
      lines[rmReleases],
      new RegExp(
        `rm -rf -- ${releasesDir}/20261120T000000Z-0000001 ${releasesDir}/20261121T000000Z-0000002$`,
      ),
    );
    assert.ok(
      lines[rmVenvs].endsWith(`rm -rf -- ${venv("a")} ${venv("b")} ${venv("d")}`),
      lines[rmVenvs],
    );
    // One round trip with the switch, as the app user, after traffic moved.
    const switched = lines.findIndex((l) => l.includes("/run/hello-green/hello.sock"));
    assert.ok(switched >= 0 && switched <= rmVenvs);
    assert.match(lines[rmVenvs], /-u app /);
  });
});

// Host-free runs of the whole strategy (tests/helpers/strategy_runs.ts): green serves
// release 7, blue is stopped, releases/ keeps 5 to 7; the exact commands, in order.

const BLUE = "/run/hello-blue/hello.sock";
const BLUE_DIR = "/home/app/apps/hello/slots/blue";
const BLUE_STATIC = "/home/app/apps/hello/shared/staticfiles-blue";
const CURRENT = "/home/app/apps/hello/current";
const failHealth = (cmd: RemoteCommand) =>
  isHealthCheck(BLUE)(cmd)
    ? { code: 1, stderr: "djaploy: /healthz/ answered HTTP 500\n" }
    : undefined;

/** What every deploy of NEW sends before its slot starts. */
function untilStarted(r: StrategyRun): string[] {
  const rel = `${RELEASES}/${NEW}`;
  return [
    line.upload(rel, `${RELEASES}/${OLD(7)}`),
    line.root("systemctl enable --quiet hello-slots.service"),
    line.buildVenv(r.venv, rel),
    line.manage(rel, r.venv, BLUE_STATIC),
    line.unitFile("blue"),
    line.link(BLUE_DIR, `../releases/${NEW}`),
    line.root("systemctl daemon-reload"),
    line.start("hello-blue.service"),
    line.health(BLUE),
  ];
}

Deno.test("zero_downtime deploy: the new release starts in the idle slot, then one round trip switches, records and drains", async () => {
  const r = await runStrategy("zero_downtime");
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.deepEqual(r.lines, [
    ...untilStarted(r),
    line.switchTo(BLUE, BLUE_STATIC),
    line.state("blue"),
    line.app(`sh -c 'cat > "$1/.djaploy-release.json"' sh ${RELEASES}/${NEW} < [stdin]`),
    line.link(CURRENT, `releases/${NEW}`),
    line.drain("green"),
  ]);
  assert.deepEqual(r.result.steps.find((s) => s.name === "switch traffic")!.changes, [
    `traffic -> ${BLUE}`,
    "stopping hello-green.service",
    `current -> releases/${NEW}`,
  ]);
});

/** The Python program migrate and collectstatic ran. */
function migrateCode(r: StrategyRun): string {
  return r.exec.recorded.find((c) => c.command && isMigrate(c.command))!.command!.argv.at(-1)!;
}

const GREEN_STATIC = "/home/app/apps/hello/shared/staticfiles-green";

Deno.test("zero_downtime deploy: collectstatic writes the idle slot's folder, a copy of the live one's; the live folder is never written", async () => {
  const r = await runStrategy("zero_downtime");
  const code = migrateCode(r);
  assert.match(code, /^COLLECTSTATIC = True$/m);
  assert.match(code, new RegExp(`^STATIC_DIR = "${BLUE_STATIC}"$`, "m"));
  assert.match(code, new RegExp(`^SEED_FROM = "${GREEN_STATIC}"$`, "m"));
  assert.ok(!r.lines.some((l) => l.includes(`STATIC_ROOT=${GREEN_STATIC}`)), r.lines.join("\n"));
});

Deno.test("zero_downtime deploy: with collectstatic skipped, the idle slot's folder becomes hard links to the live one's as the slot starts", async () => {
  // The static_hash this release's inputs give: what the first run records.
  const first = await runStrategy("zero_downtime");
  const recorded = first.exec.recorded.find((c) =>
    c.command?.argv.includes("/var/lib/djaploy/apps/hello/state.json")
  );
  const staticHash = JSON.parse(String(recorded!.command!.stdin)).static_hash;
  assert.match(staticHash, /^[0-9a-f]{16}$/);
  const r = await runStrategy("zero_downtime", { staticHash });
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.match(migrateCode(r), /^COLLECTSTATIC = False$/m);
  assert.match(
    r.out,
    /skipped collectstatic: the files, settings and \[env\] it reads are unchanged/,
  );
  const rel = `${RELEASES}/${NEW}`;
  assert.deepEqual(r.lines.slice(0, 10), [
    line.upload(rel, `${RELEASES}/${OLD(7)}`),
    line.root("systemctl enable --quiet hello-slots.service"),
    line.buildVenv(r.venv, rel),
    line.manage(rel, r.venv, BLUE_STATIC),
    line.unitFile("blue"),
    // In the slot's start round trip, before the unit starts: its folder is complete.
    line.seedStatic(GREEN_STATIC, BLUE_STATIC),
    line.link(BLUE_DIR, `../releases/${NEW}`),
    line.root("systemctl daemon-reload"),
    line.start("hello-blue.service"),
    line.health(BLUE),
  ]);
  assert.equal(r.lines[10], line.switchTo(BLUE, BLUE_STATIC));
});

Deno.test("zero_downtime deploy: a failed health check stops the new slot, marks the release failed, and moves no traffic", async () => {
  const r = await runStrategy("zero_downtime", { respond: failHealth });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "start new release");
  assert.match(String(r.result.error), /Fix the app on web1: the health check failed: .*HTTP 500/);
  assert.deepEqual(r.lines, [
    ...untilStarted(r),
    line.root("systemctl stop hello-blue.service"),
    line.diagnose(BLUE_DIR, r.venv, BLUE_STATIC),
    line.app(`touch ${RELEASES}/${NEW}/.djaploy-failed`),
  ]);
});

Deno.test("zero_downtime deploy: a failed migrate stops the host there: no slot starts, no traffic moves", async () => {
  const r = await runStrategy("zero_downtime", {
    respond: (cmd) =>
      isMigrate(cmd) ? { code: 1, stderr: "OperationalError: no such table\n" } : undefined,
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "migrate and collectstatic");
  assert.match(String(r.result.error), /OperationalError: no such table/);
  assert.deepEqual(r.lines, untilStarted(r).slice(0, 4));
});

Deno.test("zero_downtime deploy: a connection lost during the switch fails the host at that step and sends nothing more", async () => {
  const r = await runStrategy("zero_downtime", { loseConnection: isSwitch });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "switch traffic");
  assert.match(String(r.result.error), /Cannot connect to web1 .*closed by remote host/);
  // The next run reads where the link points, not state.json (the first test of this file).
  assert.deepEqual(r.lines, [...untilStarted(r), line.switchTo(BLUE, BLUE_STATIC)]);
});

Deno.test("zero_downtime rollback: the previous release starts in the idle slot with its own venv, then switches", async () => {
  const r = await runStrategy("zero_downtime", { run: { rollback: undefined } });
  assert.equal(r.result.ok, true, String(r.result.error));
  const rel = `${RELEASES}/${OLD(6)}`;
  assert.deepEqual(r.lines, [
    line.manage(rel, OLD_VENV, BLUE_STATIC),
    line.unitFile("blue"),
    line.link(BLUE_DIR, `../releases/${OLD(6)}`),
    line.root("systemctl daemon-reload"),
    line.start("hello-blue.service"),
    line.health(BLUE),
    line.switchTo(BLUE, BLUE_STATIC),
    line.state("blue"),
    line.link(CURRENT, `releases/${OLD(6)}`),
    line.drain("green"),
  ]);
  const collect = r.exec.recorded.find((c) => c.command && isMigrate(c.command))!.command!;
  assert.ok(collect.argv.some((a) => a.includes("MIGRATE = False")), "never migrates backwards");
});

Deno.test("zero_downtime rollback: a previous release that fails its health check gets no traffic", async () => {
  const r = await runStrategy("zero_downtime", {
    run: { rollback: undefined },
    respond: failHealth,
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "rollback");
  assert.match(String(r.result.error), /the health check failed/);
  assert.equal(r.lines.at(-2), line.root("systemctl stop hello-blue.service"));
  assert.equal(r.lines.at(-1), line.diagnose(BLUE_DIR, OLD_VENV, BLUE_STATIC));
  assert.ok(
    !r.lines.includes(line.switchTo(BLUE, BLUE_STATIC)) && !r.lines.includes(line.state("blue")),
  );
});

Deno.test("zero_downtime rollback --release: a connection lost during the switch fails the host and sends nothing more", async () => {
  const r = await runStrategy("zero_downtime", {
    run: { rollback: OLD(5) },
    loseConnection: isSwitch,
  });
  assert.equal(r.result.ok, false);
  assert.match(String(r.result.error), /Cannot connect to web1/);
  assert.equal(r.lines[0], line.manage(`${RELEASES}/${OLD(5)}`, OLD_VENV, BLUE_STATIC));
  assert.equal(r.lines.at(-1), line.switchTo(BLUE, BLUE_STATIC));
  assert.ok(
    !r.lines.includes(line.state("blue")),
    "no record of a switch that may not have happened",
  );
});

Deno.test("zero_downtime rollback: to the live release, or one that failed, is refused before anything is sent", async () => {
  const live = await runStrategy("zero_downtime", { run: { rollback: OLD(7) } });
  assert.match(
    String(live.result.error),
    /Nothing to do: 20261120T000007Z-0000007 is live on web1/,
  );
  const failed = await runStrategy("zero_downtime", {
    run: { rollback: OLD(6) },
    facts: {
      "releases": { out: `${OLD(6)}\tfailed\n${OLD(7)}\t${JSON.stringify(oldRecord(7))}\n` },
    },
  });
  assert.match(
    String(failed.result.error),
    /Choose another release: .* never passed its health check/,
  );
  assert.deepEqual([...live.lines, ...failed.lines], []);
});

Deno.test("zero_downtime activate: refused, it goes live on deploy", () => {
  const host = { name: "web1", deployment_strategy: "zero_downtime" } as HostConfig;
  assert.throws(
    () => strategyFor(host).activate(host),
    /Use activate with bluegreen only: web1 deploys with zero_downtime, which goes live on deploy/,
  );
});
