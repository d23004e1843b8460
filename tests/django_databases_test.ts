/**
 * `[django] databases`: the migrate step sends the aliases to the one
 * Python process that asks Django's plan and migrates, and reports which
 * database it migrated and which it skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { RemoteCommand } from "../lib/exec/remote_command.ts";
import type { ReleaseInfo } from "../lib/engine/module_api.ts";
import type { Responder } from "../lib/exec/recording_executor.ts";
import { MIGRATE_AND_COLLECTSTATIC_PY } from "../templates/scripts.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "./helpers/fixtures.ts";
import { configuredHostAnswers, deployPlan, newRelease, runRecorded } from "./helpers/plans.ts";

const TOML = `project_name = "hello"

[django]
databases = ["default", "analytics"]
`;

const MIGRATE =
  "sudo -n -H -u app -- env -C /home/app/apps/hello/code /etc/djaploy/apps/hello/run " +
  "env STATIC_ROOT=/home/app/apps/hello/shared/staticfiles /home/app/apps/hello/venv/bin/python manage.py shell -c 'from django.conf import settings…'";

const isMigrate = (cmd: RemoteCommand) =>
  cmd.argv.some((a) => a.startsWith(MIGRATE_AND_COLLECTSTATIC_PY.slice(0, 40)));

async function deploy(toml: string, respond: Responder) {
  return await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django==5.1\n", "manage.py": "" });
    const release: ReleaseInfo = newRelease(artifactDir);
    const plan = await deployPlan(loaded.host, loaded.project.repo_dir);
    return await runRecorded({
      loaded,
      plan,
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release,
      respond,
      syncChanged: () => [],
    });
  });
}

function migrateCommand(r: Awaited<ReturnType<typeof deploy>>): RemoteCommand {
  const cmds = r.exec.recorded.map((x) => x.command).filter((c) => c && isMigrate(c));
  assert.equal(cmds.length, 1, "one Python process migrates every database");
  return cmds[0]!;
}

Deno.test("[django] databases: one process asks the plan of each alias and migrates only the ones that lack a migration", async () => {
  const r = await deploy(TOML, (cmd) =>
    isMigrate(cmd)
      ? {
        stdout: [
          "djaploy: default: 0 migrations to apply",
          "djaploy: analytics: 1 migrations to apply",
          "djaploy: 1 migrations to apply",
          "djaploy: migrate --database analytics",
          "  Applying stats.0001_initial... OK",
          "",
        ].join("\n"),
      }
      : undefined);
  assert.equal(r.result.ok, true, String(r.result.error));
  const cmd = migrateCommand(r);
  assert.ok(r.exec.lines().includes(MIGRATE));
  assert.deepEqual(cmd.argv.slice(0, -1), [
    "/etc/djaploy/apps/hello/run",
    "env",
    "STATIC_ROOT=/home/app/apps/hello/shared/staticfiles",
    "/home/app/apps/hello/venv/bin/python",
    "manage.py",
    "shell",
    "-c",
  ]);
  const code = cmd.argv.at(-1)!;
  assert.match(code, /^DATABASES = \["default","analytics"\]$/m);
  assert.match(code, /^MIGRATE = "check"$/m);
  assert.match(code, /call_command\("migrate", database=alias, interactive=False/);
  assert.match(r.out, /migrated analytics; skipped default: it has every migration of this code/);
  assert.deepEqual(
    r.result.steps.find((s) => s.name === "migrate and collectstatic")!.changes,
    ["applied 1 migration"],
  );
});

Deno.test("[django] databases: when no database lacks a migration, migrate is skipped for all of them", async () => {
  const r = await deploy(TOML, (cmd) =>
    isMigrate(cmd)
      ? {
        stdout: "djaploy: default: 0 migrations to apply\n" +
          "djaploy: analytics: 0 migrations to apply\ndjaploy: 0 migrations to apply\n",
      }
      : undefined);
  assert.equal(r.result.ok, true, String(r.result.error));
  assert.match(
    r.out,
    /skipped migrate: each database \(default, analytics\) has every migration of this code/,
  );
});

Deno.test("[django] databases: the default is the one alias default", async () => {
  const r = await deploy('project_name = "hello"\n', () => undefined);
  assert.match(migrateCommand(r).argv.at(-1)!, /^DATABASES = \["default"\]$/m);
});

Deno.test("[django] databases: an alias the settings do not define fails the deploy with the script's message", async () => {
  const stderr = "djaploy: define analytics in settings.DATABASES or remove it from [django] " +
    "databases: the settings define default\n";
  const r = await deploy(TOML, (cmd) => isMigrate(cmd) ? { code: 3, stderr } : undefined);
  assert.equal(r.result.ok, false);
  assert.match(
    `${(r.result.error as Error | undefined)?.message} ${r.out}`,
    /define analytics in settings\.DATABASES or remove it from \[django\] databases/,
  );
});
