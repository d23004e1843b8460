/**
 * End to end: `[django] databases = ["default", "analytics"]` with a
 * project whose settings define two SQLite databases and a DATABASE_ROUTERS
 * router that sends the `stats` app to `analytics`. The first deploy
 * migrates both files; a redeploy of the same code migrates neither; a new
 * migration of `stats` reaches the analytics file; an alias the settings do
 * not define fails the deploy with the old release serving.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, makeProject, type TestHost, withHosts } from "./harness.ts";
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

e2eTest(
  "[django] databases: migrate runs for each database a router uses, and only when one lacks a migration",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const settings = await Deno.readTextFile(
        new URL("../../examples/hello/hello/settings.py", import.meta.url),
      );
      const project = await makeProject({
        hosts: [host],
        config: `[django]\ndatabases = ["default", "analytics"]`,
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
