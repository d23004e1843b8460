/**
 * End to end: migrate is skipped only when the database the new code points
 * at has every migration. After a first zero_downtime deploy, each of these
 * must migrate with no --force: the database moved (settings and [env]),
 * only an [env] value changed, a migration was added, an older database file
 * was restored. A redeploy of the same code over an up-to-date database
 * still skips (and changes nothing).
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, makeProject, type TestHost, withHosts } from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";
import type { TestProject } from "./harness.ts";

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

async function onHost(host: TestHost, cmd: string): Promise<void> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
}

/** Replaces one line of infra/djaploy.toml. */
async function editConfig(project: TestProject, from: RegExp, to: string): Promise<void> {
  const path = `${project.infraDir}/djaploy.toml`;
  const text = await Deno.readTextFile(path);
  assert.match(text, from);
  await Deno.writeTextFile(path, text.replace(from, to));
}

/** A deploy with no --force that migrated: it applied migrations and did not skip migrate. */
async function deployMigrates(project: TestProject, what: string): Promise<string> {
  const r = await djaploy(project, ["deploy", "--env", "test", "-v"]);
  ok(r, what);
  assert.doesNotMatch(r.output, /skipped migrate/, `${what}: migrate was skipped:\n${r.output}`);
  assert.match(r.output, /applied \d+ migrations?/, `${what}: nothing was applied:\n${r.output}`);
  return r.output;
}

// Settings the way real projects move their database: a DATABASE_URL, read here without
// dj-database-url (not in Debian), falling back to the example's DATABASE_PATH.
const SETTINGS_URL = `
_url = os.environ.get("DATABASE_URL", "")
if _url.startswith("sqlite:///"):
    DATABASES["default"]["NAME"] = _url[len("sqlite:///"):]
`;

const NOTE_MODEL = `

class Note(models.Model):
    text = models.TextField()
`;

const NOTE_MIGRATION = `from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("pages", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.TextField()),
            ],
        ),
    ]
`;

e2eTest(
  "migrate runs whenever the database the new code points at needs it, never skipped wrongly",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      await deployMigrates(project, "first deploy");
      assert.ok((await tables(host, `${DATA}/hello.sqlite3`)).includes("pages_visit"));
      assert.equal(await pageMessage(host), "Hello from djaploy!");

      // The same code again over an up-to-date database: Django says there is nothing to do.
      const same = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(same, "redeploy of the same code");
      assert.match(same.output, /skipped migrate: the database has every migration of this code/);
      assert.match(same.output, /skipped collectstatic/);
      assert.match(same.output, /already live/);
      assert.doesNotMatch(same.output, /applied \d+ migration/);

      // (a) The database moves: settings read DATABASE_URL, [env] points it outside the old file.
      const settings = await Deno.readTextFile(`${project.dir}/hello/settings.py`);
      await project.write("hello/settings.py", settings + SETTINGS_URL);
      await editConfig(
        project,
        /^DATABASE_PATH = .*$/m,
        `DATABASE_PATH = "${DATA}/hello.sqlite3"\nDATABASE_URL = "sqlite:///${DATA}/moved.sqlite3"`,
      );
      await project.commit("Move the database to DATABASE_URL");
      await deployMigrates(project, "deploy after moving the database");
      assert.ok((await tables(host, `${DATA}/moved.sqlite3`)).includes("pages_visit"));
      assert.equal(
        await pageMessage(host),
        "Hello from djaploy!",
        "the page writes to the new database",
      );

      // (b) Only an [env] value changes: the app's code and settings are the same.
      await editConfig(
        project,
        /^DATABASE_URL = .*$/m,
        `DATABASE_URL = "sqlite:///${DATA}/other.sqlite3"`,
      );
      await project.commit("Another database, by [env] alone");
      await deployMigrates(project, "deploy after an [env] change");
      assert.ok((await tables(host, `${DATA}/other.sqlite3`)).includes("pages_visit"));
      assert.equal(await pageMessage(host), "Hello from djaploy!");

      // A copy of the database as it is now, before the next migration.
      await onHost(host, `sudo -n -u app cp ${DATA}/other.sqlite3 ${DATA}/before-notes.sqlite3`);

      // (d) An app gains a migration.
      const models = await Deno.readTextFile(`${project.dir}/pages/models.py`);
      await project.write("pages/models.py", models + NOTE_MODEL);
      await project.write("pages/migrations/0002_note.py", NOTE_MIGRATION);
      await project.commit("A Note model");
      const added = await deployMigrates(project, "deploy with a new migration");
      assert.match(added, /applied 1 migration\b/);
      assert.ok((await tables(host, `${DATA}/other.sqlite3`)).includes("pages_note"));
      assert.equal(await pageMessage(host), "Hello from djaploy!");

      // (c) An older database file is restored under the same path; the code is unchanged.
      await onHost(host, `sudo -n -u app cp ${DATA}/before-notes.sqlite3 ${DATA}/other.sqlite3`);
      assert.ok(!(await tables(host, `${DATA}/other.sqlite3`)).includes("pages_note"));
      const restored = await deployMigrates(project, "deploy over a restored older database");
      assert.match(restored, /applied 1 migration\b/);
      assert.ok((await tables(host, `${DATA}/other.sqlite3`)).includes("pages_note"));
      assert.equal(await pageMessage(host), "Hello from djaploy!");

      // And once more the same code: the check finds nothing, the deploy changes nothing.
      const again = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(again, "redeploy after the restore");
      assert.match(again.output, /skipped migrate/);
      assert.match(again.output, /already live/);
    });
  },
);
