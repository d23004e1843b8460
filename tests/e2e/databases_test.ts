/**
 * End to end: `[django] databases = ["default", "analytics"]` with a
 * project whose settings define two SQLite databases and a DATABASE_ROUTERS
 * router that sends the `stats` app to `analytics`. The first deploy
 * migrates both files; a redeploy of the same code migrates neither; a new
 * migration of `stats` reaches the analytics file; an alias the settings do
 * not define fails the deploy with the old release serving.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const DATA = "/home/app/data";

/** The tables of a SQLite file on the host (none when the file does not exist). */
async function tables(host: TestHost, file: string): Promise<string[]> {
  const py = `import os, sqlite3, sys
f = sys.argv[1]
if os.path.exists(f):
    rows = sqlite3.connect(f).execute("select name from sqlite_master where type = 'table' order by name")
    print(" ".join(r[0] for r in rows))
`;
  const r = await host.ssh(`sudo -n -u app python3 - ${file}`, { stdin: py });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split(" ").filter(Boolean);
}

const SETTINGS_TAIL = `
INSTALLED_APPS += ["stats"]
DATABASES["analytics"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ["ANALYTICS_DATABASE_PATH"],
}
DATABASE_ROUTERS = ["hello.routers.AnalyticsRouter"]
`;

const ROUTER = `class AnalyticsRouter:
    """The stats app lives in the analytics database, everything else in default."""

    def db_for_read(self, model, **hints):
        return "analytics" if model._meta.app_label == "stats" else None

    db_for_write = db_for_read

    def allow_migrate(self, db, app_label, **hints):
        return db == ("analytics" if app_label == "stats" else "default")
`;

const MODEL = (name: string) => `

class ${name}(models.Model):
    name = models.CharField(max_length=50)
`;

const MIGRATION = (model: string, dependency: string | null) =>
  `from django.db import migrations, models


class Migration(migrations.Migration):
    initial = ${dependency === null ? "True" : "False"}
    dependencies = [${dependency === null ? "" : `("stats", "${dependency}")`}]

    operations = [
        migrations.CreateModel(
            name="${model}",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=50)),
            ],
        ),
    ]
`;

/** The example with two SQLite databases, `stats` routed to `analytics`, and [django] databases. */
async function twoDatabases(
  host: TestHost,
  opts: { modules?: string[]; config?: string } = {},
): Promise<TestProject> {
  const settings = await Deno.readTextFile(
    new URL("../../examples/hello/hello/settings.py", import.meta.url),
  );
  const project = await makeProject({
    hosts: [host],
    modules: opts.modules,
    config: `[django]\ndatabases = ["default", "analytics"]\n${opts.config ?? ""}`,
    files: {
      "hello/settings.py": settings + SETTINGS_TAIL,
      "hello/routers.py": ROUTER,
      "stats/__init__.py": "",
      "stats/models.py": "from django.db import models\n" + MODEL("Event"),
      "stats/migrations/__init__.py": "",
      "stats/migrations/0001_initial.py": MIGRATION("Event", null),
    },
  });
  // [env] is the last table makeProject writes before `config`: put the path in it.
  const toml = `${project.infraDir}/djaploy.toml`;
  await Deno.writeTextFile(
    toml,
    (await Deno.readTextFile(toml)).replace(
      /^DATABASE_PATH = .*$/m,
      `$&\nANALYTICS_DATABASE_PATH = "${DATA}/analytics.sqlite3"`,
    ),
  );
  await project.commit("Two databases");
  return project;
}

e2eTest(
  "[django] databases: migrate runs for each database a router uses, and only when one lacks a migration",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await twoDatabases(host);
      const toml = `${project.infraDir}/djaploy.toml`;

      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      const first = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(first, "first deploy");
      assert.doesNotMatch(first.output, /skipped migrate/);
      const main = await tables(host, `${DATA}/hello.sqlite3`);
      const analytics = await tables(host, `${DATA}/analytics.sqlite3`);
      assert.ok(main.includes("pages_visit"), `default: ${main}`);
      assert.ok(!main.includes("stats_event"), `default: ${main}`);
      assert.ok(analytics.includes("stats_event"), `analytics: ${analytics}`);
      assert.ok(analytics.includes("django_migrations"), `analytics: ${analytics}`);
      assert.ok(!analytics.includes("pages_visit"), `analytics: ${analytics}`);
      assert.equal(await pageMessage(host), "Hello from djaploy!");

      // The same code again: Django's plan is empty for both, nothing migrates.
      const same = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(same, "redeploy");
      assert.match(
        same.output,
        /skipped migrate: each database \(default, analytics\) has every migration of this code/,
      );
      assert.doesNotMatch(same.output, /applied \d+ migration/);

      // A migration of the analytics app: it reaches the analytics file, not the default one.
      const models = await Deno.readTextFile(`${project.dir}/stats/models.py`);
      await project.write("stats/models.py", models + MODEL("Total"));
      await project.write(
        "stats/migrations/0002_total.py",
        MIGRATION("Total", "0001_initial"),
      );
      await project.commit("A Total model in the analytics database");
      const added = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(added, "deploy with an analytics migration");
      assert.doesNotMatch(added.output, /skipped migrate/);
      assert.match(added.output, /applied \d+ migrations?/);
      assert.ok((await tables(host, `${DATA}/analytics.sqlite3`)).includes("stats_total"));
      assert.ok(!(await tables(host, `${DATA}/hello.sqlite3`)).includes("stats_total"));

      // An alias the settings do not define: the deploy stops before migrating anything.
      const text = await Deno.readTextFile(toml);
      await Deno.writeTextFile(
        toml,
        text.replace(
          'databases = ["default", "analytics"]',
          'databases = ["default", "analytics", "reports"]',
        ),
      );
      await project.commit("An alias the settings lack");
      const bad = await djaploy(project, ["deploy", "--env", "test"]);
      assert.notEqual(bad.code, 0, bad.output);
      assert.match(
        bad.output,
        /define reports in settings\.DATABASES or remove it from \[django\] databases: the settings define analytics, default/,
      );
      assert.equal(await pageMessage(host), "Hello from djaploy!", "the old release still serves");
    });
  },
);

const SFTP_PASSWORD = "sftp-pw-5c1e07aa";
const BACKUP_ENV = { BACKUP_SFTP_PASSWORD: SFTP_PASSWORD };

async function rootSh(host: TestHost, command: string): Promise<string> {
  const r = await host.ssh(`sudo -n sh -c '${command.replaceAll("'", "'\\''")}'`);
  assert.equal(r.code, 0, `${command}: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** Rows of a table in a SQLite file on the host (as the app user). */
async function rows(host: TestHost, file: string, table: string): Promise<number> {
  return Number(
    await rootSh(
      host,
      `sudo -u app python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from ${table}").fetchone()[0])' ${file}`,
    ),
  );
}

async function addRows(host: TestHost, file: string, table: string, n: number): Promise<void> {
  const values = table === "pages_visit" ? "(datetime(), char(120))" : "(char(101))";
  const columns = table === "pages_visit" ? "(at, path)" : "(name)";
  await rootSh(
    host,
    `sudo -u app python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); [d.execute("insert into ${table} ${columns} values ${values}") for _ in range(${n})]; d.commit()' ${file}`,
  );
}

e2eTest(
  "[django] databases: each database's file is backed up; restore --database puts back one; a database the target does not name is refused",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const rclone = (databases: string) =>
        `\n[rclone]\npath = "backups"\n${databases}\n[rclone.remote]\ntype = "sftp"\n` +
        `host = "${host.ip}"\nuser = "store"\npass = "env:BACKUP_SFTP_PASSWORD"\n`;
      const project = await twoDatabases(host, {
        modules: ["core", "nginx", "systemd", "rclone"],
        config: rclone(""),
      });
      const toml = `${project.infraDir}/djaploy.toml`;
      await rootSh(
        host,
        `useradd -m -s /bin/bash store && echo 'store:${SFTP_PASSWORD}' | chpasswd`,
      );

      // [env] names one file, the settings two: the backup would miss one, so the list is required.
      const missing = await djaploy(project, ["configure", "--env", "test"], { env: BACKUP_ENV });
      assert.equal(missing.code, 2, missing.output);
      assert.match(
        missing.output,
        /rclone\.databases: is required with 2 databases in \[django\] databases \(default, analytics\): DATABASE_PATH in \[env\] names one file; list each SQLite database's file/,
      );
      const text = await Deno.readTextFile(toml);
      await Deno.writeTextFile(
        toml,
        text.replace(
          'path = "backups"\n',
          'path = "backups"\ndatabases = ["hello.sqlite3", "analytics.sqlite3"]\n',
        ),
      );
      await project.commit("List both databases for the backups");
      ok(await djaploy(project, ["configure", "--env", "test"], { env: BACKUP_ENV }), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"], { env: BACKUP_ENV }), "deploy");

      const main = `${DATA}/hello.sqlite3`;
      const analytics = `${DATA}/analytics.sqlite3`;
      await addRows(host, main, "pages_visit", 2);
      await addRows(host, analytics, "stats_event", 3);
      await rootSh(host, "systemctl start hello-backup-rclone.service");
      const base = "/home/store/backups/test/web-1";
      const stamp = await rootSh(host, `ls ${base}`);
      const manifest = JSON.parse(await rootSh(host, `cat ${base}/${stamp}/manifest.json`));
      assert.deepEqual(manifest.databases.map((d: { name: string }) => d.name), [
        "hello.sqlite3",
        "analytics.sqlite3",
      ]);

      // Both change after the backup; only analytics is put back.
      await addRows(host, main, "pages_visit", 4);
      await addRows(host, analytics, "stats_event", 5);
      const one = await djaploy(project, [
        "restore",
        "--env",
        "test",
        "--database",
        "analytics.sqlite3",
        "--yes",
      ], { env: BACKUP_ENV });
      ok(one, "restore --database analytics.sqlite3");
      assert.match(one.output, /restored 1 database from/);
      assert.equal(await rows(host, analytics, "stats_event"), 3, "analytics is the backup's");
      assert.equal(await rows(host, main, "pages_visit"), 6, "default is left as it was");

      // A name the backup does not hold.
      const nope = await djaploy(project, [
        "restore",
        "--env",
        "test",
        "--database",
        "reports.sqlite3",
        "--yes",
      ], { env: BACKUP_ENV });
      assert.notEqual(nope.code, 0, nope.output);
      assert.match(
        nope.output,
        new RegExp(
          `Choose a database that backup ${stamp} holds: it has no reports\\.sqlite3; it holds hello\\.sqlite3, analytics\\.sqlite3`,
        ),
      );

      // The target's configuration no longer names analytics: the whole backup is refused before
      // the app is stopped; --database restores what it names.
      await Deno.writeTextFile(
        toml,
        (await Deno.readTextFile(toml)).replace(
          'databases = ["hello.sqlite3", "analytics.sqlite3"]',
          'databases = ["hello.sqlite3"]',
        ),
      );
      await project.commit("Back up the default database only");
      const refused = await djaploy(project, ["restore", "--env", "test", "--yes"], {
        env: BACKUP_ENV,
      });
      assert.notEqual(refused.code, 0, refused.output);
      assert.match(
        refused.output,
        new RegExp(
          `Choose the databases to restore with --database, or list analytics\\.sqlite3 in the target's rclone\\.databases: backup ${stamp} holds analytics\\.sqlite3, which the target's configuration does not name \\(rclone\\.databases names hello\\.sqlite3\\)`,
        ),
      );
      assert.doesNotMatch(refused.output, /systemctl stop|stopped and started/);
      assert.equal(await rows(host, main, "pages_visit"), 6, "nothing was restored");
      assert.equal(await rootSh(host, "systemctl is-active hello.service"), "active");
      const named = await djaploy(project, [
        "restore",
        "--env",
        "test",
        "--database",
        "hello.sqlite3",
        "--yes",
      ], { env: BACKUP_ENV });
      ok(named, "restore --database hello.sqlite3");
      assert.equal(await rows(host, main, "pages_visit"), 2, "default is the backup's");
    });
  },
);
