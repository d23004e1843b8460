import { unitsShowOutput } from "../helpers/plans.ts";
import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { CronError, cronToOnCalendar } from "../../lib/backup/cron.ts";
import { obscure, rcloneConf } from "../../lib/backup/rclone_conf.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { ConfigError } from "../../lib/errors.ts";
import { BACKUP_PY } from "../../templates/backup_py.ts";
import { sha256hex, withTempDir, writtenFiles } from "../helpers/fixtures.ts";
import { configurePlan, project, runRecordedWithSecrets } from "./helpers.ts";

const PASSWORD = "sftp p@ss wörd 7f3a";

const RCLONE_TOML = `project_name = "hello"
modules = ["rclone"]

[rclone]
schedule = "15 2 * * *"
retention_days = 14

[rclone.remote]
type = "sftp"
host = "backup.example.com"
user = "backup"
port = 23
pass = "file:sftp-password"
`;

Deno.test("cron to OnCalendar: fields, lists, ranges, steps, names and macros", () => {
  const cases: [string, string][] = [
    ["0 3 * * *", "*-*-* 03:00:00"],
    ["15 2 * * *", "*-*-* 02:15:00"],
    ["*/15 * * * *", "*-*-* *:00/15:00"],
    ["*/30 * * * *", "*-*-* *:00,30:00"],
    ["0 */6 * * *", "*-*-* 00/6:00:00"],
    ["5 1-3 * * *", "*-*-* 01..03:05:00"],
    ["0 0 1 * *", "*-*-01 00:00:00"],
    ["0 4 * * 1-5", "Mon..Fri *-*-* 04:00:00"],
    ["0 4 * * sat,sun", "Sun,Sat *-*-* 04:00:00"],
    ["0 4 * * 7", "Sun *-*-* 04:00:00"],
    ["30 1 1,15 jan-mar *", "*-01..03-01,15 01:30:00"],
    ["@daily", "*-*-* 00:00:00"],
    ["@hourly", "*-*-* *:00:00"],
    ["@weekly", "Sun *-*-* 00:00:00"],
    ["@monthly", "*-*-01 00:00:00"],
  ];
  for (const [cron, calendar] of cases) assert.equal(cronToOnCalendar(cron), calendar, cron);
});

Deno.test("cron to OnCalendar: what systemd cannot say is refused with the reason", () => {
  const bad: [string, RegExp][] = [
    ["0 3 * *", /expected 5 fields/],
    ["61 * * * *", /minute: 61 is outside 0-59/],
    ["0 3 1 * mon", /not both/],
    ["@reboot", /not a time/],
    ["0 5-2 * * *", /runs backwards/],
    ["x * * * *", /minute: "x" is not a number/],
  ];
  for (const [cron, message] of bad) {
    assert.throws(
      () => cronToOnCalendar(cron),
      (e) => e instanceof CronError && message.test(e.message),
      cron,
    );
  }
});

Deno.test("cron to OnCalendar: systemd-analyze accepts every conversion", async () => {
  const tool = await new Deno.Command("systemd-analyze", { args: ["--version"] }).output().catch(
    () => undefined,
  );
  if (!tool?.success) return; // Not on this machine: the exact strings above still hold.
  for (
    const cron of [
      "*/15 * * * *",
      "5 1-3 * * *",
      "0 4 * * 1-5",
      "30 1 1,15 jan-mar *",
      "0 */6 * * *",
    ]
  ) {
    const r = await new Deno.Command("systemd-analyze", {
      args: ["calendar", cronToOnCalendar(cron)],
    }).output();
    assert.ok(r.success, `${cron}: ${new TextDecoder().decode(r.stderr)}`);
  }
});

/** rclone's reveal, as rclone does it. */
function reveal(obscured: string): string {
  const bytes = Buffer.from(obscured, "base64url");
  const key = Buffer.from(
    "9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638",
    "hex",
  );
  const decipher = createDecipheriv("aes-256-ctr", key, bytes.subarray(0, 16));
  return Buffer.concat([decipher.update(bytes.subarray(16)), decipher.final()]).toString("utf8");
}

Deno.test("rclone obscure: reversible as rclone reveals it, and the same text every time", async () => {
  const o = obscure(PASSWORD);
  assert.equal(reveal(o), PASSWORD);
  assert.equal(obscure(PASSWORD), o, "deterministic, so configure does not rewrite the file");
  assert.notEqual(obscure("other"), o);
  const rclone = await new Deno.Command("rclone", { args: ["reveal", o] }).output().catch(() =>
    undefined
  );
  if (rclone?.success) assert.equal(new TextDecoder().decode(rclone.stdout).trim(), PASSWORD);
});

Deno.test("rclone.conf: one [djaploy] remote, passwords obscured, key_pem on one line, a Secret", () => {
  const conf = rcloneConf(
    new Map<string, string | Secret>([
      ["type", "sftp"],
      ["host", "h"],
      ["pass", new Secret(PASSWORD)],
      ["key_pem", new Secret("-----BEGIN KEY-----\nabc\n-----END KEY-----\n")],
    ]),
  );
  assert.ok(conf instanceof Secret);
  const text = conf.reveal();
  assert.match(
    text,
    /^\[djaploy\]\ntype = sftp\nhost = h\npass = \S+\nkey_pem = -----BEGIN KEY-----\\nabc\\n-----END KEY-----\n$/,
  );
  assert.equal(reveal(/pass = (\S+)/.exec(text)![1]), PASSWORD);
  assert.ok(!text.includes(PASSWORD));
});

Deno.test("rclone config errors: a credential written in the file, no backend type, a bad schedule", async () => {
  const cases: [string, RegExp][] = [
    [
      '[rclone.remote]\ntype = "sftp"\npass = "hunter2"',
      /djaploy\.toml:\d+: rclone\.remote\.pass: must be a secret reference/,
    ],
    ['[rclone.remote]\nhost = "h"', /rclone\.remote\.type: is required/],
    [
      '[rclone]\nschedule = "0 3 1 * mon"',
      /rclone\.schedule: must be a cron schedule: restrict the day of month or the day of week, not both/,
    ],
    ["[rclone]\nretention_days = 0", /rclone\.retention_days: must be at least 1/],
    [
      '[rclone]\ndatabases = ["../etc/passwd"]',
      /rclone\.databases\[0\]: must be an absolute path in \/home\/<app_user>\/ or a path relative/,
    ],
  ];
  for (const [toml, message] of cases) {
    await withTempDir(async (dir) => {
      await assert.rejects(
        project(dir, `project_name = "hello"\nmodules = ["rclone"]\n${toml}\n`),
        (e) => e instanceof ConfigError && message.test(e.message),
        toml,
      );
    });
  }
});

Deno.test("rclone module: no [rclone.remote] stops the plan before any connection", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, 'project_name = "hello"\nmodules = ["rclone"]\n');
    await assert.rejects(
      configurePlan(loaded.host, loaded.project.repo_dir),
      (e) => e instanceof ConfigError && /\[rclone\.remote\] is missing/.test(e.message),
    );
  });
});

const CONF = "/etc/djaploy/backups/hello/rclone.conf";
const SETTINGS = "/etc/djaploy/backups/hello/backup-rclone.json";
const SERVICE = "/etc/systemd/system/hello-backup-rclone.service";
const TIMER = "/etc/systemd/system/hello-backup-rclone.timer";
const put = (path: string, owner: string, mode: string) =>
  `sudo -n -H -- sh -c 'set -e…' sh ${path} ${owner} ${mode} < [stdin]`;

Deno.test("rclone module: configure writes the program, a 0600 rclone.conf, settings and a timer that runs as the app user with them as credentials; the password is in no command", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, RCLONE_TOML, { secrets: { "sftp-password": PASSWORD } });
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    assert.deepEqual(plan.packages, ["rclone"]);
    const r = await runRecordedWithSecrets({ loaded, plan });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines().slice(1), [
      put("/usr/local/lib/djaploy/backup.py", "root:root", "0755"),
      // The job runs it as the app's user: the folder (mkdir'd 0700) must let it in.
      "sudo -n -H -- chmod 0755 /usr/local/lib/djaploy",
      put(CONF, "root:root", "0600"),
      put(SETTINGS, "root:root", "0600"),
      put(SERVICE, "root:root", "0644"),
      put(TIMER, "root:root", "0644"),
      "sudo -n -H -- systemctl daemon-reload",
      "sudo -n -H -- systemctl enable --now --quiet hello-backup-rclone.timer",
    ]);
    for (const text of [r.text, r.out, r.err]) assert.ok(!text.includes(PASSWORD));
    const files = writtenFiles(r.exec.recorded);
    assert.equal(files.get("/usr/local/lib/djaploy/backup.py"), BACKUP_PY);
    const conf = files.get(CONF)!;
    assert.match(
      conf,
      /^\[djaploy\]\ntype = sftp\nhost = backup\.example\.com\nuser = backup\nport = 23\npass = (\S+)\n$/,
    );
    assert.equal(reveal(/pass = (\S+)/.exec(conf)![1]), PASSWORD);
    const confCmd = r.exec.recorded.find((c) => c.command?.argv[4] === CONF)!;
    assert.ok(confCmd.command!.stdin instanceof Secret, "rclone.conf goes on stdin as a Secret");
    assert.deepEqual(JSON.parse(files.get(SETTINGS)!), {
      backend: "rclone",
      app: "hello",
      env: "test",
      host: "web1",
      app_user: "app",
      data_dir: "/home/app/data",
      staging_dir: "/home/app/apps/hello/.djaploy/backup-rclone",
      databases: [],
      scan_data_dir: true,
      media_dir: "/home/app/apps/hello/shared/media",
      shared_dir: "/home/app/apps/hello/shared",
      shared_resources: [],
      rclone_config: CONF,
      target: "djaploy:djaploy/hello/test/web1",
      retention_days: 14,
    });
    // Root's files reach the job, which runs as the app's user, as read-only credentials.
    assert.match(
      files.get(SERVICE)!,
      new RegExp(
        "\nUser=app\nGroup=app\n" +
          "LoadCredential=backup-rclone.json:/etc/djaploy/backups/hello/backup-rclone.json\n" +
          "LoadCredential=rclone.conf:/etc/djaploy/backups/hello/rclone.conf\n" +
          "ExecStart=/usr/bin/python3 /usr/local/lib/djaploy/backup.py run backup-rclone.json\n",
      ),
    );
    assert.match(files.get(SERVICE)!, /Type=oneshot/);
    assert.match(files.get(TIMER)!, /\nOnCalendar=\*-\*-\* 02:15:00\n/);
    assert.match(files.get(TIMER)!, /\nPersistent=true\n/);
    assert.match(r.out, /hello-backup-rclone\.timer scheduled \(15 2 \* \* \*\)/);
    // Nothing names the database: configure says where the job looks, and how to name it.
    assert.match(
      r.out,
      /rclone backs up every SQLite file in \/home\/app\/data \(no database setting: set rclone\.databases or DATABASE_PATH in \[env\]\)/,
    );
  });
});

/** RCLONE_TOML with more settings; an `[rclone]` table in them is merged into its own. */
function withExtra(extra: string): string {
  return RCLONE_TOML.replace(
    "[rclone]\n",
    extra.includes("[rclone]") ? extra : `${extra}\n[rclone]\n`,
  );
}

Deno.test("rclone module: the database the app uses (DATABASE_PATH, a sqlite DATABASE_URL, or rclone.databases) is in the job's settings, and configure says so", async () => {
  const cases: [string, { name: string; path: string }[], RegExp][] = [
    [
      '[env]\nDATABASE_PATH = "/home/app/apps/hello/shared/hello.sqlite3"\n',
      [{
        name: "~/apps/hello/shared/hello.sqlite3",
        path: "/home/app/apps/hello/shared/hello.sqlite3",
      }],
      /rclone backs up \/home\/app\/apps\/hello\/shared\/hello\.sqlite3 \(env\.DATABASE_PATH\); files: \/home\/app\/apps\/hello\/shared\/media/,
    ],
    [
      '[env]\nDATABASE_URL = "sqlite:////home/app/db/x.sqlite3"\n',
      [{ name: "~/db/x.sqlite3", path: "/home/app/db/x.sqlite3" }],
      /rclone backs up \/home\/app\/db\/x\.sqlite3 \(env\.DATABASE_URL\)/,
    ],
    [
      // The explicit setting wins, also over a secret reference in [env].
      '[env]\nDATABASE_PATH = "env:DB"\n\n[rclone]\ndatabases = ["/home/app/data/a.sqlite3", "b.sqlite3"]\n',
      [
        { name: "a.sqlite3", path: "/home/app/data/a.sqlite3" },
        { name: "b.sqlite3", path: "/home/app/data/b.sqlite3" },
      ],
      /rclone backs up \/home\/app\/data\/a\.sqlite3, \/home\/app\/data\/b\.sqlite3 \(rclone\.databases\)/,
    ],
    [
      // Several [django] databases: each one's file, listed.
      '[django]\ndatabases = ["default", "analytics"]\n\n[env]\nDATABASE_PATH = "/home/app/data/hello.sqlite3"\n\n' +
      '[rclone]\ndatabases = ["hello.sqlite3", "analytics.sqlite3"]\n',
      [
        { name: "hello.sqlite3", path: "/home/app/data/hello.sqlite3" },
        { name: "analytics.sqlite3", path: "/home/app/data/analytics.sqlite3" },
      ],
      /rclone backs up \/home\/app\/data\/hello\.sqlite3, \/home\/app\/data\/analytics\.sqlite3 \(rclone\.databases\)/,
    ],
  ];
  for (const [extra, databases, line] of cases) {
    await withTempDir(async (dir) => {
      const loaded = await project(dir, withExtra(extra), {
        secrets: { "sftp-password": PASSWORD },
      });
      const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
      const r = await runRecordedWithSecrets({ loaded, plan });
      assert.equal(r.result.ok, true, String(r.result.error));
      const settings = JSON.parse(writtenFiles(r.exec.recorded).get(SETTINGS)!);
      assert.deepEqual(settings.databases, databases, extra);
      assert.equal(settings.scan_data_dir, false, extra);
      assert.match(r.out, line);
      // The job may open the database's folder (SQLite's locks and -shm live beside it).
      const dirs = databases.map((d) => d.path.replace(/\/[^/]*$/, ""));
      for (const d of dirs.filter((d) => d !== "/home/app/data")) {
        assert.match(writtenFiles(r.exec.recorded).get(SERVICE)!, new RegExp(`-${d}`), extra);
      }
    });
  }
});

Deno.test("rclone module: a database the job cannot read or djaploy cannot know is a config error naming the key", async () => {
  const cases: [string, RegExp][] = [
    [
      '[env]\nDATABASE_PATH = "/var/lib/hello/db.sqlite3"\n',
      /djaploy\.toml:\d+: env\.DATABASE_PATH: must be an absolute path of a file in \/home\/app\/ \(the app user's home[^\n]*got "\/var\/lib\/hello\/db\.sqlite3"/,
    ],
    [
      '[env]\nDATABASE_PATH = "env:HELLO_DB"\n',
      /djaploy\.toml:\d+: env\.DATABASE_PATH: is a secret reference, which djaploy cannot read before the app runs: set rclone\.databases/,
    ],
    [
      '[env]\nDATABASE_URL = "sqlite:///db.sqlite3"\n',
      /env\.DATABASE_URL: must name an absolute SQLite file \(sqlite:\/\/\/\/home\/<app_user>\/data\/db\.sqlite3\)[^\n]*got "sqlite:\/\/\/db\.sqlite3"/,
    ],
    [
      '[env]\nDATABASE_URL = "sqlite:////home/app/../../etc/x.sqlite3"\n',
      /env\.DATABASE_URL: must be an absolute path of a file in \/home\/app\//,
    ],
    [
      '[env]\nDATABASE_PATH = "/home/app/data/a.sqlite3"\n' +
      'DATABASE_URL = "sqlite:////home/app/data/b.sqlite3"\n',
      /djaploy\.toml(:\d+)?: rclone\.databases: is required: DATABASE_PATH \("\/home\/app\/data\/a\.sqlite3"\) and DATABASE_URL \("\/home\/app\/data\/b\.sqlite3"\) in \[env\] name different files/,
    ],
    [
      // [env] names one file; the analytics database would silently be left out.
      '[django]\ndatabases = ["default", "analytics"]\n\n[env]\nDATABASE_PATH = "/home/app/data/hello.sqlite3"\n',
      /djaploy\.toml(:\d+)?: rclone\.databases: is required with 2 databases in \[django\] databases \(default, analytics\): DATABASE_PATH in \[env\] names one file; list each SQLite database's file/,
    ],
    [
      '[rclone]\ndatabases = ["/home/other/db.sqlite3"]\n',
      /djaploy\.toml:\d+: rclone\.databases\[0\]: must be an absolute path of a file in \/home\/app\//,
    ],
  ];
  for (const [extra, message] of cases) {
    await withTempDir(async (dir) => {
      await assert.rejects(
        project(dir, withExtra(extra), {
          secrets: { "sftp-password": PASSWORD },
        }),
        (e) => e instanceof ConfigError && message.test(e.message),
        extra,
      );
    });
  }
});

Deno.test("rclone module: an inventory's DATABASE_PATH outside the home is named with its file and line", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      project(dir, RCLONE_TOML, {
        secrets: { "sftp-password": PASSWORD },
        inventory: '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n\n' +
          '[hosts.env]\nDATABASE_PATH = "/srv/db.sqlite3"\n',
      }),
      (e) =>
        e instanceof ConfigError &&
        /test\.toml:6: hosts\[0\]\.env\.DATABASE_PATH: must be an absolute path/.test(e.message),
    );
  });
});

Deno.test("rclone module: a host that has it all gets no command besides the facts", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, RCLONE_TOML, { secrets: { "sftp-password": PASSWORD } });
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    const fresh = await runRecordedWithSecrets({ loaded, plan });
    const files = writtenFiles(fresh.exec.recorded);
    const again = await runRecordedWithSecrets({
      loaded,
      plan,
      facts: {
        "file-hashes": {
          out: [...files].map(([p, t]) => `${sha256hex(t)}  ${p}\n`).join(""),
        },
        "units:hello-backup-rclone.timer": {
          out: unitsShowOutput({ "hello-backup-rclone.timer": "enabled active" }),
        },
      },
    });
    assert.equal(again.result.ok, true, String(again.result.error));
    assert.equal(again.exec.lines().length, 1, again.text);
  });
});
