/**
 * End to end, the database a backup holds is the one the app uses: with
 * DATABASE_PATH outside /home/<app_user>/data (the example app's shared/),
 * verify and configure name it, a backup run before the database exists
 * fails (and leaves no backup behind), and once it exists it is in the store
 * and restores. The rclone remote is SFTP to a second user of the same host
 * (one host; `restore --list` reads it from this machine).
 */
import assert from "node:assert/strict";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  httpGet,
  makeProject,
  type TestHost,
  withHosts,
} from "./harness.ts";
import { run } from "./harness/run.ts";

const DB = "/home/app/apps/hello/shared/db.sqlite3";
const STORE = "/home/store/backups";
const SFTP_PASSWORD = "sftp-pw-0b7d1e94";
const ENV = { BACKUP_SFTP_PASSWORD: SFTP_PASSWORD };

function ok(r: DjaployResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
}

async function root(host: TestHost, command: string): Promise<{ code: number; out: string }> {
  const r = await run("ssh", [
    ...["-i", host.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
    ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
    ...["-o", "LogLevel=ERROR", `root@${host.ip}`, command],
  ], { timeoutMs: 300_000 });
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

async function rootOk(host: TestHost, command: string): Promise<string> {
  const r = await root(host, command);
  assert.equal(r.code, 0, `${host.name}: ${command}: ${r.out}`);
  return r.out;
}

const COUNT_PY = `import sqlite3, sys
d = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(d.execute("select count(*) from pages_visit").fetchone()[0])`;

async function visits(host: TestHost): Promise<number> {
  return Number(await rootOk(host, `python3 -c '${COUNT_PY}' ${DB}`));
}

async function visit(host: TestHost, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const page = await httpGet(`http://${host.ip}/`);
    assert.equal(page.status, 200, page.body.slice(0, 300));
  }
}

e2eTest(
  "backups find the app's database outside the data folder (DATABASE_PATH): named by verify and configure, a run without it fails, with it it is stored and restores",
  async () => {
    await withHosts(["web-1"], async ([web]) => {
      const project = await makeProject({
        hosts: [web],
        modules: ["core", "nginx", "systemd", "rclone"],
        config: `[rclone]
path = "backups"

[rclone.remote]
type = "sftp"
host = "${web.ip}"
user = "store"
pass = "env:BACKUP_SFTP_PASSWORD"`,
      });
      await rootOk(
        web,
        `useradd -m -s /bin/bash store && echo 'store:${SFTP_PASSWORD}' | chpasswd`,
      );
      const toml = await Deno.readTextFile(`${project.dir}/infra/djaploy.toml`);
      await project.write(
        "infra/djaploy.toml",
        toml.replace(/^DATABASE_PATH = .*$/m, `DATABASE_PATH = "${DB}"`),
      );
      await project.commit("The database in shared/");

      const line = new RegExp(
        `rclone backs up ${DB.replaceAll(".", "\\.")} \\(env\\.DATABASE_PATH\\)`,
      );
      const verify = await djaploy(project, ["verify", "--env", "test"], { env: ENV });
      ok(verify, "verify");
      assert.match(verify.output, line);
      const configure = await djaploy(project, ["configure", "--env", "test"], { env: ENV });
      ok(configure, "configure");
      assert.match(configure.output, line);

      // Before the first deploy there is no database: the run fails, nothing is stored.
      const early = await root(web, "systemctl start hello-backup-rclone.service");
      assert.notEqual(early.code, 0, "a backup without its database must fail");
      assert.equal(
        (await root(web, "systemctl is-failed hello-backup-rclone.service")).out,
        "failed",
      );
      const journal = await rootOk(web, "journalctl -u hello-backup-rclone --no-pager -o cat");
      assert.match(journal, new RegExp(`the database ${DB.replaceAll(".", "\\.")} does not exist`));
      assert.equal(await rootOk(web, `find /home/store -path '*/backups*' | wc -l`), "0");
      const none = await djaploy(project, ["restore", "--env", "test", "--list"], { env: ENV });
      ok(none, "restore --list");
      assert.match(none.output, /no backups/, "the failed run left no backup, complete or not");

      ok(await djaploy(project, ["deploy", "--env", "test"], { env: ENV }), "deploy");
      await visit(web, 3);
      const atBackup = await visits(web);
      await rootOk(web, "systemctl start hello-backup-rclone.service");
      const base = `${STORE}/test/web-1`;
      const stamp = await rootOk(web, `ls ${base}`);
      assert.match(stamp, /^\d{4}-\d{2}-\d{2}T\d{6}Z$/);
      const stored = `${base}/${stamp}/db/~/apps/hello/shared/db.sqlite3`;
      assert.equal(
        Number(await rootOk(web, `python3 -c '${COUNT_PY}' '${stored}'`)),
        atBackup,
        "the app's database is in the store",
      );
      const manifest = JSON.parse(await rootOk(web, `cat ${base}/${stamp}/manifest.json`));
      assert.deepEqual(manifest.databases.map((d: { name: string }) => d.name), [
        "~/apps/hello/shared/db.sqlite3",
      ]);
      const list = await djaploy(project, ["restore", "--env", "test", "--list"], { env: ENV });
      ok(list, "restore --list");
      assert.match(list.output, new RegExp(`${stamp} .* complete`));

      await visit(web, 4);
      assert.equal(await visits(web), atBackup + 4);
      const restored = await djaploy(project, [
        "restore",
        "--env",
        "test",
        "--archive",
        stamp,
        "--db-only",
        "--yes",
      ], { env: ENV });
      ok(restored, "restore");
      assert.match(restored.output, /restored 1 database from/);
      assert.equal(await visits(web), atBackup, "the database is back to the backup's state");
      assert.equal(await rootOk(web, `stat -c %U ${DB}`), "app");
    });
  },
);
