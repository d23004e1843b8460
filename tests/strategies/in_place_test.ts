import { djangoInputs } from "../../lib/django/static_inputs.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import type { ReleaseInfo } from "../../lib/engine/module_api.ts";
import type { Responder } from "../../lib/exec/recording_executor.ts";
import { CommandError, UserError } from "../../lib/errors.ts";
import { dependencyPlan } from "../../lib/deploy/dependencies.ts";
import { layoutFor, venvDir } from "../../lib/host/layout.ts";
import { MIGRATE_AND_COLLECTSTATIC_PY } from "../../templates/scripts.ts";
import { strategyFor } from "../../lib/strategies/registry.ts";
import { line, runStrategy } from "../helpers/strategy_runs.ts";
import {
  factsStdout,
  type LoadedProject,
  loadTestProject,
  type ProbeAnswer,
  withTempDir,
  writeFiles,
} from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  deployPlan,
  newRelease,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";

const DJAPLOY_TOML = `project_name = "hello"

[health_check]
path = "/healthz/"
`;

interface Fixture {
  loaded: LoadedProject;
  release: ReleaseInfo;
  /** Answers of a host configure has set up, with no deploy yet. */
  configured: Record<string, ProbeAnswer>;
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, DJAPLOY_TOML);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, {
      "requirements.txt": "Django==5.1\ngunicorn==23.0\n",
      "manage.py": "#!/usr/bin/env python\n",
    });
    const release: ReleaseInfo = newRelease(artifactDir);
    await fn({ loaded, release, configured: await configuredHostAnswers(loaded) });
  });
}

async function deploy(
  f: Fixture,
  answers: Record<string, ProbeAnswer>,
  opts: { respond?: Responder; syncChanged?: string[]; force?: boolean } = {},
) {
  const plan = await deployPlan(f.loaded.host, f.loaded.project.repo_dir);
  return await runRecorded({
    loaded: f.loaded,
    plan,
    facts: factsStdout(answers),
    release: f.release,
    respond: opts.respond,
    syncChanged: () => opts.syncChanged ?? [],
    force: opts.force,
  });
}

const FACTS = "sudo -n -H -- sh -c '(exec 2>/dev/null…' sh";
const MIGRATE =
  "sudo -n -H -u app -- env -C /home/app/apps/hello/code /etc/djaploy/apps/hello/run " +
  "env STATIC_ROOT=/home/app/apps/hello/shared/staticfiles /home/app/apps/hello/venv/bin/python manage.py shell -c 'from django.conf import settings…'";
const RESTART = "sudo -n -H -- systemctl restart hello";
const HEALTH =
  "sudo -n -H -u app -- python3 -c 'import re, socket, sys, time…' /run/hello/hello.sock /healthz/ 10.0.0.1 200 100 0.1";
// Root's record, in root's folder: the app user can neither forge nor redirect it.
const RECORD =
  `sudo -n -H -- sh -c 'umask 022; mkdir -p "\${1%/*}" && cat > "$1.new" && mv -f "$1.new" "$1" && ` +
  `if [ -n "$3" ]; then printf "%s\\n" "$3" > "$2.new" && mv -f "$2.new" "$2"; fi' sh ` +
  "/var/lib/djaploy/apps/hello/state.json /var/lib/djaploy/apps/hello/active-slot '' < [stdin]";

const rsyncLine = (f: Fixture) =>
  `rsync --delete ${f.release.artifactDir}/ -> /home/app/apps/hello/code/ (as app)`;

const isMigrate = (cmd: RemoteCommand) =>
  cmd.argv.some((a) => a.startsWith(MIGRATE_AND_COLLECTSTATIC_PY.slice(0, 40)));
/** The Python code the migrate command sent. */
const migrateCode = (r: { exec: { recorded: { command?: RemoteCommand }[] } }) =>
  r.exec.recorded.map((x) => x.command).find((c) => c && isMigrate(c))!.argv.at(-1)!;

Deno.test("in_place: first deploy to a configured host sends code, builds the venv, migrates, restarts, checks and records", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, f.configured);
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    const venv = /^sudo -n -H -u app -- sh -c 'set -e…' sh (\S+) /.exec(lines[2])?.[1];
    assert.match(venv ?? "", /^\/home\/app\/apps\/hello\/shared\/venv-[0-9a-f]{16}-py3\.11$/);
    assert.deepEqual(lines, [
      FACTS,
      rsyncLine(f),
      `sudo -n -H -u app -- sh -c 'set -e…' sh ${venv} python3.11 pip 0 /home/app/apps/hello/code '' /etc/djaploy/apps/hello/dependencies.env`,
      `sudo -n -H -u app -- ln -sfn ${venv} /home/app/apps/hello/venv`,
      MIGRATE,
      RESTART,
      HEALTH,
      RECORD,
    ]);

    // The code goes to code/ as the app user; byte-code caches survive --delete.
    const sync = r.exec.recorded[1].sync!;
    assert.deepEqual(
      { ...sync },
      {
        source: f.release.artifactDir,
        dest: "/home/app/apps/hello/code",
        as: "app",
        delete: true,
        filters: ["P __pycache__/"],
      },
    );

    // The state file records what now runs.
    const state = JSON.parse(r.exec.recorded[7].command!.stdin as string);
    const depHash = (await dependencyPlan(f.loaded.host, f.release.artifactDir)).hash;
    assert.match(state.deployed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    delete state.deployed_at;
    assert.deepEqual(state, {
      strategy: "in_place",
      release: "20261126T070102Z-abc1234",
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-new",
      venv,
      python: "3.11",
      environment: "test",
      // What collectstatic reads, so the next deploy can skip it (migrate asks the database).
      static_hash: await staticHash(f, depHash),
    });

    assert.deepEqual(
      r.result.steps.filter((s) => s.changes.length).map((s) => s.name),
      ["dependencies", "link virtualenv", "restart services"],
    );
    assert.match(r.out, /^web1 {2}changed {2}dependencies {2}built venv-[0-9a-f]{16}-py3\.11 {2}/m);
    assert.match(r.out, /^web1 {2}ok {7}health check {2}/m);
    assert.equal(r.err, "");
  });
});

Deno.test("in_place: with the venv for the lock file already built and linked, no installer runs", async () => {
  await withFixture(async (f) => {
    const { hash } = await dependencyPlan(f.loaded.host, f.release.artifactDir);
    const venv = venvDir(layoutFor(f.loaded.host), hash, "3.11");
    const previous = {
      strategy: "in_place",
      release: "20261125T000000Z-0000001",
      commit: "0000001",
      ref: "main",
      tree: "tree-old",
      venv,
      deployed_at: "2026-11-25T00:00:00.000Z",
      environment: "test",
    };
    const r = await deploy(f, {
      ...f.configured,
      "deploy-state": { out: JSON.stringify(previous) },
      "venvs": { out: `${venv}\n` },
      "venv-link": { out: `${venv}\n` },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [FACTS, rsyncLine(f), MIGRATE, RESTART, HEALTH, RECORD]);
    assert.deepEqual(
      r.result.steps.filter((s) => s.changes.length).map((s) => s.name),
      ["restart services"],
    );
    assert.match(r.out, /^web1 {2}ok {7}upload code {2}/m);
    assert.match(r.out, /^web1 {2}ok {7}dependencies {2}/m);
    assert.match(r.out, /^web1 {2}ok {7}link virtualenv {2}/m);
  });
});

Deno.test("in_place: the venv link is checked on the host, not trusted from state.json", async () => {
  await withFixture(async (f) => {
    const { hash } = await dependencyPlan(f.loaded.host, f.release.artifactDir);
    const venv = venvDir(layoutFor(f.loaded.host), hash, "3.11");
    // state.json names the venv, but a failed deploy left the link elsewhere.
    const state = { tree: "tree-old", venv, release: "r", commit: "c", ref: "main" };
    const r = await deploy(f, {
      ...f.configured,
      "deploy-state": { out: JSON.stringify(state) },
      "venvs": { out: `${venv}\n` },
      "venv-link": { out: "/home/app/apps/hello/shared/venv-ffffffffffffffff-py3.11\n" },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.ok(
      r.exec.lines().includes(`sudo -n -H -u app -- ln -sfn ${venv} /home/app/apps/hello/venv`),
    );
  });
});

Deno.test("in_place: a venv that exists but is not linked yet is linked, not rebuilt", async () => {
  await withFixture(async (f) => {
    const { hash } = await dependencyPlan(f.loaded.host, f.release.artifactDir);
    const venv = venvDir(layoutFor(f.loaded.host), hash, "3.11");
    const r = await deploy(f, { ...f.configured, "venvs": { out: `${venv}\n` } });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [
      FACTS,
      rsyncLine(f),
      `sudo -n -H -u app -- ln -sfn ${venv} /home/app/apps/hello/venv`,
      MIGRATE,
      RESTART,
      HEALTH,
      RECORD,
    ]);
  });
});

Deno.test("in_place: a host without the app user fails at check server, says to run configure, sends nothing", async () => {
  await withFixture(async (f) => {
    const answers = { ...f.configured };
    delete answers["user:app"];
    const r = await deploy(f, answers);
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "check server");
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'Configure web1 first: the app user "app" does not exist there');
    assert.equal(err.hint, "Run: djaploy configure --env test");
    assert.deepEqual(r.exec.lines(), [FACTS]);
    assert.equal(r.exec.stats.syncs, 0);
    assert.match(r.out, /^web1 {2}FAILED {3}check server {2}Configure web1 first: /m);
  });
});

Deno.test("in_place: a failing migrate stops the host there: no restart, no health check, no record", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, f.configured, {
      respond: (cmd) =>
        isMigrate(cmd)
          ? { code: 1, stderr: "Traceback...\ndjango.db.utils.OperationalError: no such table\n" }
          : undefined,
    });
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "migrate and collectstatic");
    const err = r.result.error;
    assert.ok(err instanceof CommandError);
    assert.equal(err.code, 1);
    assert.equal(err.host, "web1");
    assert.match(err.message, /^Command failed on web1 with exit code 1 \(general error\): /);
    assert.match(err.message, /\n {2}\| django\.db\.utils\.OperationalError: no such table$/);
    const lines = r.exec.lines();
    assert.equal(lines.at(-1), MIGRATE);
    assert.ok(!lines.includes(RESTART));
    assert.ok(!lines.includes(HEALTH));
    assert.ok(!lines.includes(RECORD));
    assert.deepEqual(r.result.steps.map((s) => s.name).slice(-2), [
      "link virtualenv",
      "migrate and collectstatic",
    ]);
    assert.match(r.out, /^web1 {2}FAILED {3}migrate and collectstatic {2}exit code 1 {2}/m);
  });
});

const DIAGNOSIS =
  "sudo -n -H -u app -- env -C /home/app/apps/hello/code timeout 60 /etc/djaploy/apps/hello/run " +
  "env STATIC_ROOT=/home/app/apps/hello/shared/staticfiles /home/app/apps/hello/venv/bin/python manage.py shell -c 'import logging, re, sys, traceback…'";

Deno.test("in_place: a failing health check runs the request through Django once, shows its traceback, names the unit", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, f.configured, {
      respond: (cmd) =>
        cmd.argv[0] === "python3"
          ? {
            code: 1,
            stderr:
              "GET /healthz/ with Host: 10.0.0.1 answered HTTP 500 (<h1>Server Error (500)</h1>) " +
              "after 1 try, expected HTTP 200\n",
          }
          : cmd.argv[0] === "timeout"
          ? {
            stdout: "Traceback (most recent call last):\n" +
              '  File "/home/app/apps/hello/code/pages/views.py", line 9, in health\n' +
              "ZeroDivisionError: division by zero\n",
          }
          : undefined,
    });
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "health check");
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.equal(
      err.message,
      [
        "Fix the app on web1: the health check failed: GET /healthz/ with Host: 10.0.0.1 answered " +
        "HTTP 500 (<h1>Server Error (500)</h1>) after 1 try, expected HTTP 200",
        "The app's own answer, the same request run once through Django in /home/app/apps/hello/code:",
        "  | Traceback (most recent call last):",
        '  |   File "/home/app/apps/hello/code/pages/views.py", line 9, in health',
        "  | ZeroDivisionError: division by zero",
      ].join("\n"),
    );
    assert.equal(err.hint, "See the app's log: journalctl -u hello.service -n 50");
    assert.deepEqual(r.exec.lines().slice(-2), [HEALTH, DIAGNOSIS]);
    // The request it replays: the probe's path and Host, as Python literals.
    const code = r.exec.recorded.at(-1)!.command!.argv.at(-1)!;
    assert.match(code, /^PATH = "\/healthz\/"$/m);
    assert.match(code, /^HOST = "10\.0\.0\.1"$/m);
  });
});

Deno.test("in_place: a 400 names the Host sent and the ALLOWED_HOSTS value to add", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, f.configured, {
      respond: (cmd) =>
        cmd.argv[0] === "python3"
          ? {
            code: 1,
            stderr:
              "GET /healthz/ with Host: 10.0.0.1 answered HTTP 400 (<h1>Bad Request (400)</h1>) " +
              "after 1 try, expected HTTP 200\n",
          }
          : cmd.argv[0] === "timeout"
          ? {
            stdout:
              "ALLOWED_HOSTS = ['example.org'] does not accept the Host '10.0.0.1': add '10.0.0.1'\nHTTP 400\n",
          }
          : undefined,
    });
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    const lines = err.message.split("\n");
    assert.match(lines[0], /with Host: 10\.0\.0\.1 answered HTTP 400 /);
    assert.equal(
      lines[1],
      'ALLOWED_HOSTS does not accept the Host the check sends: add "10.0.0.1" to ALLOWED_HOSTS ' +
        "(or set [health_check] host to a name it accepts).",
    );
    assert.equal(
      lines[3],
      "  | ALLOWED_HOSTS = ['example.org'] does not accept the Host '10.0.0.1': add '10.0.0.1'",
    );
  });
});

Deno.test("in_place: a 400 the app gives itself (ALLOWED_HOSTS took the Host) blames no ALLOWED_HOSTS", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, f.configured, {
      respond: (cmd) =>
        cmd.argv[0] === "python3"
          ? {
            code: 1,
            stderr: "GET /healthz/ with Host: 10.0.0.1 answered HTTP 400 (refused) after 1 try, " +
              "expected HTTP 200\n",
          }
          : cmd.argv[0] === "timeout"
          ? { stdout: "HTTP 400\nrefused\n" }
          : undefined,
    });
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.doesNotMatch(err.message, /ALLOWED_HOSTS/);
    assert.match(err.message, /\n {2}\| HTTP 400\n {2}\| refused$/);
  });
});

Deno.test("in_place: migrate and collectstatic output is reported as changes", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, f.configured, {
      respond: (cmd) =>
        isMigrate(cmd)
          ? {
            stdout: "Operations to perform:\n  Applying pages.0001_initial... OK\n" +
              "  Applying pages.0002_more... OK\n\n130 static files copied to '/s'.\n",
          }
          : undefined,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const step = r.result.steps.find((s) => s.name === "migrate and collectstatic")!;
    assert.deepEqual(step.changes, ["applied 2 migrations", "copied 130 static files"]);
  });
});

/** The collectstatic hash of the fixture's release, with no [env]. */
async function staticHash(f: Fixture, dependencyHash: string): Promise<string> {
  const env = new Map([
    ["STATIC_ROOT", "/var/lib/djaploy/apps/hello/static"],
    ["MEDIA_ROOT", "/home/app/apps/hello/shared/media"],
  ]);
  return (await djangoInputs(f.release.artifactDir, { dependencyHash, python: "3.11", env }))
    .static;
}

/** Answers of a host where this very release runs, with its services up. */
async function liveAnswers(f: Fixture): Promise<Record<string, ProbeAnswer>> {
  const { hash } = await dependencyPlan(f.loaded.host, f.release.artifactDir);
  const venv = venvDir(layoutFor(f.loaded.host), hash, "3.11");
  const state = {
    strategy: "in_place",
    release: "20261125T000000Z-abc1234",
    commit: f.release.commit,
    ref: "main",
    tree: f.release.tree,
    venv,
    deployed_at: "2026-11-25T00:00:00.000Z",
    environment: "test",
    static_hash: await staticHash(f, hash),
  };
  return {
    ...f.configured,
    "deploy-state": { out: JSON.stringify(state, null, 2) + "\n" },
    "venvs": { out: `${venv}\n` },
    "venv-link": { out: `${venv}\n` },
  };
}

const NOTHING_TO_MIGRATE = (cmd: RemoteCommand) =>
  isMigrate(cmd) ? { stdout: "djaploy: 0 migrations to apply\n" } : undefined;

Deno.test("in_place: redeploying the live release unchanged asks the database, then skips migrate, collectstatic, restart, health check and record", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, await liveAnswers(f), { respond: NOTHING_TO_MIGRATE });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [FACTS, rsyncLine(f), MIGRATE]);
    const code = migrateCode(r);
    assert.match(code, /^MIGRATE = "check"$/m);
    assert.match(code, /^COLLECTSTATIC = False$/m);
    assert.match(
      r.out,
      /migrate and collectstatic: skipped migrate: the database has every migration/,
    );
    assert.match(
      r.out,
      /^web1 {11}restart services: already live: 20261126T070102Z-abc1234 \(main\) runs and nothing changed; --force redeploys$/m,
    );
    assert.deepEqual(r.result.steps.filter((s) => s.changes.length), []);
  });
});

Deno.test("in_place: the live release over a database that lacks its migrations (moved, restored) migrates, restarts and checks", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, await liveAnswers(f), {
      respond: (cmd) =>
        isMigrate(cmd)
          ? { stdout: "djaploy: 1 migrations to apply\n  Applying pages.0001_initial... OK\n" }
          : undefined,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [FACTS, rsyncLine(f), MIGRATE, RESTART, HEALTH, RECORD]);
    assert.deepEqual(
      r.result.steps.find((s) => s.name === "migrate and collectstatic")!.changes,
      ["applied 1 migration"],
    );
  });
});

Deno.test("in_place: collectstatic runs again when only [env] changed", async () => {
  await withFixture(async (f) => {
    const answers = await liveAnswers(f);
    const first = await deploy(f, answers, { respond: NOTHING_TO_MIGRATE });
    assert.match(migrateCode(first), /^COLLECTSTATIC = False$/m);
    const plan = await deployPlan(f.loaded.host, f.loaded.project.repo_dir);
    const r = await runRecorded({
      loaded: f.loaded,
      plan,
      facts: factsStdout(answers),
      release: f.release,
      respond: NOTHING_TO_MIGRATE,
      appEnv: new Map([["STATIC_URL", "/assets/"]]),
    });
    assert.match(migrateCode(r), /^COLLECTSTATIC = True$/m);
    assert.match(migrateCode(r), /^MIGRATE = "check"$/m);
  });
});

Deno.test("in_place: --force redeploys the live release", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, await liveAnswers(f), { force: true });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [FACTS, rsyncLine(f), MIGRATE, RESTART, HEALTH, RECORD]);
  });
});

Deno.test("in_place: the live release is redeployed when files changed on the host", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, await liveAnswers(f), { syncChanged: ["pages/views.py"] });
    assert.deepEqual(r.exec.lines(), [FACTS, rsyncLine(f), MIGRATE, RESTART, HEALTH, RECORD]);
    assert.deepEqual(r.result.steps.find((s) => s.name === "upload code")!.changes, [
      "1 file changed",
    ]);
  });
});

Deno.test("in_place: the live release is restarted when its service is not running", async () => {
  await withFixture(async (f) => {
    const r = await deploy(f, {
      ...await liveAnswers(f),
      "units": { out: unitsShowOutput({ hello: "enabled failed" }) },
    });
    assert.deepEqual(r.exec.lines(), [FACTS, rsyncLine(f), MIGRATE, RESTART, HEALTH, RECORD]);
  });
});

Deno.test("in_place: after the switch, virtualenvs neither the new release nor the previous one uses are removed, as the app user", async () => {
  await withFixture(async (f) => {
    const shared = "/home/app/apps/hello/shared";
    const previous = `${shared}/venv-bbbbbbbbbbbbbbbb-py3.11`;
    const older = [
      `${shared}/venv-aaaaaaaaaaaaaaaa-py3.11`,
      `${shared}/venv-cccccccccccccccc-py3.11`,
    ];
    const state = {
      strategy: "in_place",
      release: "20261125T000000Z-0000001",
      commit: "0000001",
      ref: "main",
      tree: "tree-old",
      venv: previous,
      deployed_at: "2026-11-25T00:00:00.000Z",
      environment: "test",
    };
    const r = await deploy(f, {
      ...f.configured,
      "deploy-state": { out: JSON.stringify(state) },
      "venvs": { out: `${older[0]}\n${previous}\n${older[1]}\n` },
      "venv-link": { out: `${previous}\n` },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    const venv = /^sudo -n -H -u app -- sh -c 'set -e…' sh (\S+) /.exec(lines[2])?.[1];
    // Last, after the record: the live one (new) and the previous one stay.
    assert.equal(lines.at(-2), RECORD);
    assert.equal(lines.at(-1), `sudo -n -H -u app -- rm -rf -- ${older.join(" ")}`);
    assert.ok(!lines.at(-1)!.includes(previous) && !lines.at(-1)!.includes(venv!));
    assert.deepEqual(r.result.steps.find((s) => s.name === "prune virtualenvs")!.changes, [
      "removed 2 unused virtualenvs: venv-aaaaaaaaaaaaaaaa-py3.11, venv-cccccccccccccccc-py3.11",
    ]);
  });
});

Deno.test("in_place: a failed deploy removes no virtualenv", async () => {
  await withFixture(async (f) => {
    const old = "/home/app/apps/hello/shared/venv-aaaaaaaaaaaaaaaa-py3.11";
    const r = await deploy(f, { ...f.configured, "venvs": { out: `${old}\n` } }, {
      respond: (cmd) => cmd.argv[0] === "python3" ? { code: 1, stderr: "HTTP 500\n" } : undefined,
    });
    assert.equal(r.result.ok, false);
    assert.ok(!r.exec.lines().some((l) => l.includes("rm -rf")));
  });
});

// in_place keeps nothing to go back to and goes live on deploy: activate and rollback refuse.
Deno.test("in_place: activate and rollback are refused with what to do instead", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(dir, 'project_name = "hello"\n');
    const s = strategyFor(host);
    assert.throws(
      () => s.activate(host),
      /Use activate with bluegreen only: web1 deploys with in_place, which goes live on deploy/,
    );
    assert.throws(
      () => s.rollback(host, undefined),
      /Redeploy an earlier tag instead: web1 uses in_place, which keeps no previous release/,
    );
  });
});

Deno.test("in_place: a connection lost during the restart fails the host there: no health check, no record", async () => {
  const r = await runStrategy("in_place", {
    loseConnection: (cmd) => cmd.argv[0] === "systemctl" && cmd.argv[1] === "restart",
  });
  assert.equal(r.result.ok, false);
  assert.equal(r.result.failedStep, "restart services");
  assert.match(String(r.result.error), /Cannot connect to web1 .*closed by remote host/);
  const code = "/home/app/apps/hello/code";
  const venvLink = "/home/app/apps/hello/venv";
  assert.deepEqual(r.lines, [
    line.upload(code),
    line.buildVenv(r.venv, code),
    line.app(`ln -sfn ${r.venv} ${venvLink}`),
    line.manage(code, venvLink, "/home/app/apps/hello/shared/staticfiles"),
    line.root("systemctl restart hello"),
  ]);
});
