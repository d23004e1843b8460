import { unitsShowOutput } from "../helpers/plans.ts";
import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { CronError, cronToOnCalendar } from "../../lib/backup/cron.ts";
import { obscure, rcloneConf } from "../../lib/backup/rclone_conf.ts";
import { Secret } from "../../lib/secret.ts";
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
    ['[rclone]\ndatabases = ["../etc/passwd"]', /rclone\.databases\[0\]: must match/],
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
