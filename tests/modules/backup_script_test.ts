/**
 * The backup program (templates/backup_py.ts) run for real on this machine
 * with Debian's python3, rclone (a "local" remote) and borg (a repository in
 * a folder): consistent snapshots under writes, retention, listing,
 * restoring, and borg's lock handling. It runs as an unprivileged user
 * (nobody, as the app's user on a server; it refuses root), its settings and
 * credentials in a $CREDENTIALS_DIRECTORY as systemd's LoadCredential= makes
 * it. Skipped where a tool is missing; tests/e2e/backup_test.ts runs the
 * same program on real servers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BACKUP_PY } from "../../templates/backup_py.ts";
import { withTempDir } from "../helpers/fixtures.ts";

const PYTHON = "/usr/bin/python3";
/** The unprivileged user the program runs as here (the app's user on a server). */
const UID = 65534;
const AS_USER = ["setpriv", `--reuid=${UID}`, `--regid=${UID}`, "--clear-groups", "--"];

async function has(program: string, arg = "--version"): Promise<boolean> {
  return await new Deno.Command(program, { args: [arg], stdout: "null", stderr: "null" }).output()
    .then((r) => r.success, () => false);
}

const canRun = Deno.build.os === "linux" && await has(PYTHON) && Deno.uid?.() === 0 &&
  await has("setpriv");
const hasRclone = canRun && await has("rclone", "version");
const hasBorg = canRun && await has("borg");

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Gives the test's folder to the unprivileged user (files root wrote into it included). */
async function handOver(dir: string): Promise<void> {
  const r = await new Deno.Command("chown", { args: ["-R", `${UID}:${UID}`, dir] }).output();
  assert.ok(r.success, "chown");
}

/** backup.py as the unprivileged user (`root: true`: as root), its folder handed over first. */
async function py(
  script: string,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; root?: boolean; keep?: boolean } = {},
): Promise<Out> {
  if (!opts.keep) await handOver(join(script, ".."));
  const argv = [...(opts.root ? [] : AS_USER), PYTHON, script, ...args];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
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

function asUser(code: string, ...args: string[]): Deno.Command {
  return new Deno.Command(AS_USER[0], {
    args: [...AS_USER.slice(1), PYTHON, "-c", code, ...args],
  });
}

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
    app_user: "nobody",
    data_dir: data,
    databases: [],
    scan_data_dir: true,
    media_dir: join(dir, "media"),
    shared_dir: join(dir, "shared"),
    shared_resources: ["public"],
  };
  return { data, db, script, common };
}

function target(dir: string) {
  return {
    data_dir: join(dir, "restored", "data"),
    media_dir: join(dir, "restored", "media"),
    shared_dir: join(dir, "restored", "shared"),
    staging_dir: join(dir, "restored", ".restore"),
  };
}

/** Restores as `restore` does on a server: fetch, then (the app's units stopped) apply. */
async function restore(
  script: string,
  request: Record<string, unknown>,
  env?: Record<string, string>,
) {
  const fetched = await py(script, ["fetch"], { stdin: JSON.stringify(request), env });
  assert.equal(fetched.code, 0, fetched.stderr + fetched.stdout);
  assert.match(fetched.stdout, /integrity ok/);
  // apply gets the request without the credentials, as restore sends it.
  const { target, databases, expected } = request;
  const applied = await py(script, ["apply"], {
    stdin: JSON.stringify({
      backup: request.backup,
      db_only: request.db_only,
      databases,
      expected,
      target,
    }),
    env,
  });
  assert.equal(applied.code, 0, applied.stderr + applied.stdout);
  return { stdout: fetched.stdout + applied.stdout, stderr: fetched.stderr + applied.stderr };
}

Deno.test({
  name: "backup.py rclone: a snapshot under writes is consistent; retention; list; restore",
  ignore: !hasRclone,
  async fn() {
    await withTempDir(async (dir) => {
      const { db, script, common } = await app(dir);
      // As systemd hands them over: the settings and rclone.conf in $CREDENTIALS_DIRECTORY.
      const creds = join(dir, "credentials");
      await Deno.mkdir(creds);
      const conf = join(creds, "rclone.conf");
      await Deno.writeTextFile(conf, "[djaploy]\ntype = local\n", { mode: 0o600 });
      const remote = join(dir, "remote");
      const base = join(remote, "hello", "test", "web1");
      // An old complete backup and an unfinished one: retention removes both.
      await Deno.mkdir(join(base, "2000-01-01T000000Z"), { recursive: true });
      await Deno.writeTextFile(join(base, "2000-01-01T000000Z", "manifest.json"), "{}");
      await Deno.mkdir(join(base, "2000-01-02T000000Z"), { recursive: true });
      const settings = join(creds, "backup-rclone.json");
      await Deno.writeTextFile(
        settings,
        JSON.stringify({
          ...common,
          backend: "rclone",
          staging_dir: join(dir, "state", "backup-rclone"),
          // Root's path on a server: read from $CREDENTIALS_DIRECTORY by its name.
          rclone_config: "/etc/djaploy/backups/hello/rclone.conf",
          target: `djaploy:${base}`,
          retention_days: 7,
        }),
      );
      await handOver(dir);
      const writer = asUser(WRITER_PY, db).spawn();
      let before: number;
      let r: Out;
      try {
        await new Promise((res) => setTimeout(res, 300));
        before = (await count(db))[1];
        r = await py(script, ["run", "backup-rclone.json"], {
          env: { ...Deno.env.toObject(), CREDENTIALS_DIRECTORY: creds },
        });
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

      const restored = await restore(script, {
        source,
        rclone_conf: rcloneConf,
        backup: names[0],
        db_only: false,
        target: target(dir),
      });
      assert.match(restored.stdout, /@@djaploy-restore \{"ok": true/);
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
      assert.doesNotMatch(restored.stdout + restored.stderr, /djaploy-secrets/);
      await assert.rejects(Deno.lstat(join(dir, "restored", ".restore")), "staging is removed");

      // Several databases: --database picks some; a name the backup lacks, or a database the
      // target's configuration does not name, is refused at fetch (the app still runs).
      const only = { ...target(dir), data_dir: join(dir, "only", "data") };
      const base2 = { source, rclone_conf: rcloneConf, backup: names[0], db_only: true };
      const lacking = await py(script, ["fetch"], {
        stdin: JSON.stringify({ ...base2, databases: ["nope.db"], target: only }),
      });
      assert.notEqual(lacking.code, 0);
      assert.match(
        lacking.stderr + lacking.stdout,
        new RegExp(
          `Choose a database that backup ${
            names[0]
          } holds: it has no nope\\.db; it holds app\\.sqlite3, sub/other\\.db`,
        ),
      );
      const unnamed = await py(script, ["fetch"], {
        stdin: JSON.stringify({
          ...base2,
          expected: ["app.sqlite3"],
          expected_from: "env.DATABASE_PATH",
          expected_key: "rclone.databases",
          target: only,
        }),
      });
      assert.notEqual(unnamed.code, 0);
      assert.match(
        unnamed.stderr + unnamed.stdout,
        new RegExp(
          "Choose the databases to restore with --database, or list sub/other\\.db in the " +
            `target's rclone\\.databases: backup ${names[0]} holds sub/other\\.db, which the ` +
            "target's configuration does not name \\(env\\.DATABASE_PATH names app\\.sqlite3\\)",
        ),
      );
      await assert.rejects(Deno.lstat(only.staging_dir), "a refused fetch leaves no staging");
      const picked = await restore(script, {
        ...base2,
        databases: ["sub/other.db"],
        expected: ["app.sqlite3", "sub/other.db"],
        target: only,
      });
      assert.match(
        picked.stdout,
        /@@djaploy-restore \{"ok": true, "databases": \["sub\/other\.db"\]/,
      );
      assert.equal((await count(join(only.data_dir, "sub", "other.db")))[0], "ok");
      await assert.rejects(Deno.lstat(join(only.data_dir, "app.sqlite3")), "not chosen");
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
            borg_base_dir: join(dir, "borg-home"),
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
      // An override in the environment is not passed on to borg.
      const env = { ...Deno.env.toObject(), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes" };
      const init = await py(script, ["init", settings], { env });
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, /created repository/);
      assert.match((await py(script, ["init", settings], { env })).stdout, /repository exists/);
      const first = await py(script, ["run", settings], { env });
      assert.equal(first.code, 0, first.stderr + first.stdout);
      assert.match(first.stdout, /created archive test-web1-/);

      const borgEnv = {
        ...env,
        BORG_PASSCOMMAND: `cat ${pass}`,
        BORG_BASE_DIR: join(dir, "borg-home"),
      };
      // A stale lock: a borg of another host id, killed while holding it.
      const stale = new Deno.Command(AS_USER[0], {
        args: [...AS_USER.slice(1), "borg", "with-lock", repo, "sleep", "60"],
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
      const running = new Deno.Command(AS_USER[0], {
        args: [...AS_USER.slice(1), "borg", "with-lock", repo, "sleep", "5"],
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
          borg_base_dir: join(dir, "borg-home"),
        }),
      });
      assert.equal(list.code, 0, list.stderr);
      const archives = JSON.parse(list.stdout) as { name: string }[];
      assert.equal(archives.length, 1, list.stdout);

      await restore(script, {
        source: {
          backend: "borg",
          repository: repo,
          remote_path: null,
          archive_prefix: "test-web1-",
        },
        passphrase: "a passphrase",
        borg_base_dir: join(dir, "borg-home"),
        backup: archives[0].name,
        db_only: true,
        target: target(dir),
      }, env);
      assert.equal((await count(join(dir, "restored", "data", "app.sqlite3")))[0], "ok");
      await assert.rejects(
        Deno.stat(join(dir, "restored", "media")),
        "--db-only leaves media alone",
      );
    });
  },
});

Deno.test({
  name:
    "backup.py against a hostile app user: refuses root; links planted at staging and lock are removed, never followed; root's leftover lock is replaced; known-hosts writes only under /etc/djaploy; a manifest cannot name paths outside the app's folders",
  ignore: !hasRclone,
  async fn() {
    await withTempDir(async (dir) => {
      await withTempDir(async (rootDir) => {
        await Deno.chmod(rootDir, 0o755);
        const canary = join(rootDir, "canary");
        await Deno.writeTextFile(canary, "root's\n", { mode: 0o644 });
        const { script, common } = await app(dir);
        const conf = join(dir, "rclone.conf");
        await Deno.writeTextFile(conf, "[djaploy]\ntype = local\n");
        const staging = join(dir, "state", "backup-rclone");
        const settings = join(dir, "settings.json");
        await Deno.writeTextFile(
          settings,
          JSON.stringify({
            ...common,
            backend: "rclone",
            staging_dir: staging,
            rclone_config: conf,
            target: `djaploy:${join(dir, "remote")}`,
            retention_days: 7,
          }),
        );

        const asRoot = await py(script, ["run", settings], { root: true });
        assert.equal(asRoot.code, 2, asRoot.stderr);
        assert.match(asRoot.stderr, /backup\.py run runs as the app's user, not as root/);

        await Deno.symlink(rootDir, staging);
        await Deno.symlink(canary, `${staging}.lock`);
        const planted = await py(script, ["run", settings]);
        assert.equal(planted.code, 0, planted.stderr + planted.stdout);
        assert.equal(await Deno.readTextFile(canary), "root's\n");
        const st = await Deno.stat(canary);
        assert.equal(st.uid, 0);
        assert.equal(st.mode! & 0o777, 0o644);
        assert.deepEqual(
          [...Deno.readDirSync(rootDir)].map((e) => e.name),
          ["canary"],
          "nothing was made in root's folder",
        );
        const lock = await Deno.lstat(`${staging}.lock`);
        assert.ok(lock.isFile && lock.uid === UID, "the lock is the user's own file");
        await assert.rejects(Deno.lstat(staging), "staging is removed after the run");

        // A lock root left behind (backups ran as root before): replaced, not refused.
        await Deno.remove(`${staging}.lock`);
        await Deno.writeTextFile(`${staging}.lock`, "", { mode: 0o600 });
        const leftover = await py(script, ["run", settings], { keep: true });
        assert.equal(leftover.code, 0, leftover.stderr + leftover.stdout);
        assert.equal((await Deno.lstat(`${staging}.lock`)).uid, UID);

        const outside = await py(script, ["known-hosts"], {
          root: true,
          stdin: JSON.stringify({ repository: "/srv/repo", known_hosts: canary }),
        });
        assert.equal(outside.code, 2, outside.stderr);
        assert.match(outside.stderr, /known_hosts lives under \/etc\/djaploy\//);
        assert.equal(await Deno.readTextFile(canary), "root's\n");

        // A fetched backup whose manifest names a path outside the data folder.
        const t = target(dir);
        await Deno.mkdir(join(t.staging_dir, "db"), { recursive: true });
        await Deno.writeTextFile(
          join(t.staging_dir, "manifest.json"),
          JSON.stringify({ databases: [{ name: "../../x.sqlite3" }], files: [] }),
        );
        const escape = await py(script, ["apply"], {
          stdin: JSON.stringify({ backup: "b", db_only: false, target: t }),
        });
        assert.equal(escape.code, 1, escape.stderr);
        assert.match(escape.stderr, /names a database outside the app's folders/);
      });
    });
  },
});

Deno.test({
  name: "backup.py rclone: a configured database outside the data folder is backed up and " +
    "restored below the target's home; when it is missing the run fails and uploads nothing",
  ignore: !hasRclone,
  async fn() {
    await withTempDir(async (dir) => {
      const { script, common } = await app(dir);
      const creds = join(dir, "credentials");
      await Deno.mkdir(creds);
      await Deno.writeTextFile(join(creds, "rclone.conf"), "[djaploy]\ntype = local\n");
      const base = join(dir, "remote", "hello", "test", "web1");
      // The app user's home is `dir`; the app keeps its database in shared/, not in data/.
      const db = join(dir, "shared", "db.sqlite3");
      await Deno.writeTextFile(
        join(creds, "backup-rclone.json"),
        JSON.stringify({
          ...common,
          databases: [{ name: "~/shared/db.sqlite3", path: db }],
          scan_data_dir: false,
          backend: "rclone",
          staging_dir: join(dir, "state", "backup-rclone"),
          rclone_config: "/etc/djaploy/backups/hello/rclone.conf",
          target: `djaploy:${base}`,
          retention_days: 7,
        }),
      );
      const env = { ...Deno.env.toObject(), CREDENTIALS_DIRECTORY: creds };
      const source = { backend: "rclone", target: `djaploy:${base}` };
      const rcloneConf = "[djaploy]\ntype = local\n";

      // Media is there, data/ holds SQLite files, but not the database the app uses.
      const failed = await py(script, ["run", "backup-rclone.json"], { env });
      assert.equal(failed.code, 1, failed.stdout + failed.stderr);
      assert.match(failed.stderr, new RegExp(`the database ${db} does not exist`));
      assert.doesNotMatch(failed.stdout, /complete/);
      const none = await py(script, ["list"], {
        stdin: JSON.stringify({ source, rclone_conf: rcloneConf }),
      });
      assert.equal(none.code, 0, none.stderr);
      assert.deepEqual(JSON.parse(none.stdout), [], "no backup, complete or not, was made");

      await new Deno.Command(PYTHON, { args: ["-c", SETUP_PY, db] }).output();
      const ok = await py(script, ["run", "backup-rclone.json"], { env });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /database ~\/shared\/db\.sqlite3: \d+ bytes, integrity ok/);
      assert.doesNotMatch(ok.stdout, /app\.sqlite3/, "only the configured database");
      const list = await py(script, ["list"], {
        stdin: JSON.stringify({ source, rclone_conf: rcloneConf }),
      });
      const backups = JSON.parse(list.stdout) as { name: string; complete: boolean }[];
      assert.equal(backups.length, 1);
      assert.equal(backups[0].complete, true);
      assert.equal(
        (await count(join(base, backups[0].name, "db", "~", "shared", "db.sqlite3")))[0],
        "ok",
      );

      const home = join(dir, "restored", "home");
      await restore(script, {
        source,
        rclone_conf: rcloneConf,
        backup: backups[0].name,
        db_only: true,
        target: { ...target(dir), home_dir: home },
      }, env);
      assert.deepEqual(await count(join(home, "shared", "db.sqlite3")), ["ok", 2000]);
    });
  },
});
