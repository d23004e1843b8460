/**
 * The backup program (templates/backup_py.ts) run for real on this machine
 * with Debian's python3, rclone (a "local" remote) and borg (a repository in
 * a folder): consistent snapshots under writes, retention, listing,
 * restoring, and borg's lock handling. Skipped where a tool is missing;
 * tests/e2e/backup_test.ts runs the same program on real servers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BACKUP_PY } from "../../templates/backup_py.ts";
import { withTempDir } from "../helpers/fixtures.ts";

const PYTHON = "/usr/bin/python3";
const USER = Deno.env.get("USER") ?? "root";

async function has(program: string, arg = "--version"): Promise<boolean> {
  return await new Deno.Command(program, { args: [arg], stdout: "null", stderr: "null" }).output()
    .then((r) => r.success, () => false);
}

const canRun = Deno.build.os === "linux" && await has(PYTHON) && Deno.uid?.() === 0;
const hasRclone = canRun && await has("rclone", "version");
const hasBorg = canRun && await has("borg");

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function py(
  script: string,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<Out> {
  const child = new Deno.Command(PYTHON, {
    args: [script, ...args],
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const SETUP_PY = `import sqlite3, sys
d = sqlite3.connect(sys.argv[1])
d.execute("PRAGMA journal_mode=WAL")
d.execute("create table visits(id integer primary key, at text)")
d.executemany("insert into visits(at) values (?)", [("x" * 200,)] * 2000)
d.commit()`;

// Writes rows until killed, one transaction each, like a busy app.
const WRITER_PY = `import sqlite3, sys, time
d = sqlite3.connect(sys.argv[1], timeout=30)
while True:
    d.execute("insert into visits(at) values (?)", ("y" * 200,))
    d.commit()`;

const COUNT_PY = `import sqlite3, sys
d = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(d.execute("PRAGMA integrity_check").fetchone()[0], d.execute("select count(*) from visits").fetchone()[0])`;

async function count(path: string): Promise<[string, number]> {
  const r = await new Deno.Command(PYTHON, { args: ["-c", COUNT_PY, path] }).output();
  const [integrity, n] = new TextDecoder().decode(r.stdout).trim().split(" ");
  return [integrity, Number(n)];
}

/** An app's folders with a WAL database, a second database, media and a shared resource. */
async function app(dir: string) {
  const data = join(dir, "data");
  await Deno.mkdir(join(data, "sub"), { recursive: true });
  await Deno.mkdir(join(dir, "media", "uploads"), { recursive: true });
  await Deno.mkdir(join(dir, "shared", "public"), { recursive: true });
  await Deno.mkdir(join(dir, "state"), { recursive: true });
  const db = join(data, "app.sqlite3");
  await new Deno.Command(PYTHON, { args: ["-c", SETUP_PY, db] }).output();
  await new Deno.Command(PYTHON, { args: ["-c", SETUP_PY, join(data, "sub", "other.db")] })
    .output();
  await Deno.writeTextFile(join(data, "notes.txt"), "not a database\n");
  await Deno.writeTextFile(join(dir, "media", "uploads", "photo.txt"), "a photo\n");
  await Deno.writeTextFile(join(dir, "shared", "public", "x.txt"), "shared\n");
  const script = join(dir, "backup.py");
  await Deno.writeTextFile(script, BACKUP_PY);
  const common = {
    app: "hello",
    env: "test",
    host: "web1",
    app_user: USER,
    data_dir: data,
    databases: [],
    media_dir: join(dir, "media"),
    shared_dir: join(dir, "shared"),
    shared_resources: ["public"],
  };
  return { data, db, script, common };
}

function target(dir: string, backup: string) {
  return {
    app_user: USER,
    data_dir: join(dir, "restored", "data"),
    media_dir: join(dir, "restored", "media"),
    shared_dir: join(dir, "restored", "shared"),
    staging_dir: join(dir, "restored", ".restore"),
    units: [],
    backup,
  };
}

Deno.test({
  name: "backup.py rclone: a snapshot under writes is consistent; retention; list; restore",
  ignore: !hasRclone,
  async fn() {
    await withTempDir(async (dir) => {
      const { db, script, common } = await app(dir);
      const conf = join(dir, "rclone.conf");
      await Deno.writeTextFile(conf, "[djaploy]\ntype = local\n", { mode: 0o600 });
      const remote = join(dir, "remote");
      const base = join(remote, "hello", "test", "web1");
      // An old complete backup and an unfinished one: retention removes both.
      await Deno.mkdir(join(base, "2000-01-01T000000Z"), { recursive: true });
      await Deno.writeTextFile(join(base, "2000-01-01T000000Z", "manifest.json"), "{}");
      await Deno.mkdir(join(base, "2000-01-02T000000Z"), { recursive: true });
      const settings = join(dir, "settings.json");
      await Deno.writeTextFile(
        settings,
        JSON.stringify({
          ...common,
          backend: "rclone",
          staging_dir: join(dir, "state", "backup-rclone"),
          rclone_config: conf,
          target: `djaploy:${base}`,
          retention_days: 7,
        }),
      );
      const writer = new Deno.Command(PYTHON, { args: ["-c", WRITER_PY, db] }).spawn();
      let before: number;
      let r: Out;
      try {
        await new Promise((res) => setTimeout(res, 300));
        before = (await count(db))[1];
        r = await py(script, ["run", settings]);
      } finally {
        writer.kill();
        await writer.status;
      }
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /database app\.sqlite3: \d+ bytes, integrity ok/);
      assert.match(r.stdout, /database sub\/other\.db/);
      assert.doesNotMatch(r.stdout, /notes\.txt/);
      assert.match(r.stdout, /removed old backup 2000-01-01T000000Z/);
      assert.match(r.stdout, /removed unfinished backup 2000-01-02T000000Z/);
      const names = [];
      for await (const e of Deno.readDir(base)) names.push(e.name);
      assert.equal(names.length, 1, names.join(", "));
      const [integrity, rows] = await count(join(base, names[0], "db", "app.sqlite3"));
      assert.equal(integrity, "ok");
      assert.ok(rows >= before, `${rows} rows in the snapshot, ${before} before it began`);
      const manifest = JSON.parse(await Deno.readTextFile(join(base, names[0], "manifest.json")));
      assert.deepEqual(manifest.files, ["media", "shared/public"]);
      assert.deepEqual(manifest.databases.map((d: { name: string }) => d.name), [
        "app.sqlite3",
        "sub/other.db",
      ]);

      const rcloneConf = await Deno.readTextFile(conf);
      const source = { backend: "rclone", target: `djaploy:${base}` };
      const list = await py(script, ["list"], {
        stdin: JSON.stringify({ source, rclone_conf: rcloneConf }),
      });
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(JSON.parse(list.stdout).map((b: { name: string }) => b.name), names);

      const restore = await py(script, ["restore"], {
        stdin: JSON.stringify({
          source,
          rclone_conf: rcloneConf,
          backup: names[0],
          db_only: false,
          target: target(dir, names[0]),
        }),
      });
      assert.equal(restore.code, 0, restore.stderr + restore.stdout);
      assert.match(restore.stdout, /@@djaploy-restore \{"ok": true/);
      assert.equal((await count(join(dir, "restored", "data", "app.sqlite3")))[0], "ok");
      assert.equal(
        await Deno.readTextFile(join(dir, "restored", "media", "uploads", "photo.txt")),
        "a photo\n",
      );
      assert.equal(
        await Deno.readTextFile(join(dir, "restored", "shared", "public", "x.txt")),
        "shared\n",
      );
      // No secret file is left behind (they live in a private temp folder for one command).
      assert.doesNotMatch(restore.stdout + restore.stderr, /djaploy-secrets/);
    });
  },
});

Deno.test({
  name: "backup.py borg: archives, prune; a stale lock is broken, a running borg's lock is not",
  ignore: !hasBorg,
  async fn() {
    await withTempDir(async (dir) => {
      const { script, common } = await app(dir);
      const pass = join(dir, "passphrase");
      await Deno.writeTextFile(pass, "a passphrase", { mode: 0o600 });
      const repo = join(dir, "repo");
      const settings = join(dir, "borg.json");
      const write = (keep: Record<string, number | string | null>) =>
        Deno.writeTextFile(
          settings,
          JSON.stringify({
            ...common,
            backend: "borg",
            staging_dir: join(dir, "state", "backup-borg"),
            repository: repo,
            remote_path: null,
            encryption: "repokey-blake2",
            compression: "lz4",
            archive_prefix: "test-web1-",
            passphrase_file: pass,
            ssh_key_file: null,
            known_hosts: join(dir, "known_hosts"),
            keep_within: null,
            keep_hourly: 0,
            keep_daily: 7,
            keep_weekly: 0,
            keep_monthly: 0,
            lock_wait: 1,
            ...keep,
          }),
        );
      await write({});
      const env = { ...Deno.env.toObject(), BORG_BASE_DIR: join(dir, "borg-home") };
      const init = await py(script, ["init", settings], { env });
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, /created repository/);
      assert.match((await py(script, ["init", settings], { env })).stdout, /repository exists/);
      const first = await py(script, ["run", settings], { env });
      assert.equal(first.code, 0, first.stderr + first.stdout);
      assert.match(first.stdout, /created archive test-web1-/);

      const borgEnv = { ...env, BORG_PASSCOMMAND: `cat ${pass}` };
      // A stale lock: a borg of another host id, killed while holding it.
      const stale = new Deno.Command("borg", {
        args: ["with-lock", repo, "sleep", "60"],
        env: { ...borgEnv, BORG_HOST_ID: "gone@1" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      await new Promise((res) => setTimeout(res, 1500));
      stale.kill("SIGKILL");
      await stale.status;
      await new Promise((res) => setTimeout(res, 1100));
      const second = await py(script, ["run", settings], { env });
      assert.equal(second.code, 0, second.stderr + second.stdout);
      assert.match(second.stdout, /lock is stale \(no borg process runs here\): breaking it/);

      // A running borg holds the lock: the backup gives up (75) and leaves the lock alone.
      const running = new Deno.Command("borg", {
        args: ["with-lock", repo, "sleep", "5"],
        env: borgEnv,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await new Promise((res) => setTimeout(res, 1500));
      const busy = await py(script, ["run", settings], { env });
      const held = await running.output();
      assert.equal(busy.code, 75, busy.stderr + busy.stdout);
      assert.match(busy.stderr, /another backup is running, so its lock was left alone/);
      assert.equal(
        held.code,
        0,
        `the running borg failed: ${new TextDecoder().decode(held.stderr)}`,
      );

      // Retention: keep one per hour, nothing else.
      await new Promise((res) => setTimeout(res, 1100));
      await write({ keep_daily: 0, keep_hourly: 1 });
      const pruned = await py(script, ["run", settings], { env });
      assert.equal(pruned.code, 0, pruned.stderr + pruned.stdout);
      assert.match(pruned.stdout, /Pruning archive/);
      const list = await py(script, ["list"], {
        env,
        stdin: JSON.stringify({
          source: {
            backend: "borg",
            repository: repo,
            remote_path: null,
            archive_prefix: "test-web1-",
          },
          passphrase: "a passphrase",
        }),
      });
      assert.equal(list.code, 0, list.stderr);
      const archives = JSON.parse(list.stdout) as { name: string }[];
      assert.equal(archives.length, 1, list.stdout);

      const restore = await py(script, ["restore"], {
        env,
        stdin: JSON.stringify({
          source: {
            backend: "borg",
            repository: repo,
            remote_path: null,
            archive_prefix: "test-web1-",
          },
          passphrase: "a passphrase",
          backup: archives[0].name,
          db_only: true,
          target: target(dir, archives[0].name),
        }),
      });
      assert.equal(restore.code, 0, restore.stderr + restore.stdout);
      assert.equal((await count(join(dir, "restored", "data", "app.sqlite3")))[0], "ok");
      await assert.rejects(
        Deno.stat(join(dir, "restored", "media")),
        "--db-only leaves media alone",
      );
    });
  },
});
