import assert from "node:assert/strict";
import { join } from "node:path";
import { chooseBackup, parseDateFlag } from "../../lib/backup/choose.ts";
import { parseRestoreResult, restorePlan, restoreUnits } from "../../lib/backup/restore_steps.ts";
import { backupSource } from "../../lib/backup/source.ts";
import { stampTime } from "../../lib/backup/local.ts";
import { SecretResolver } from "../../lib/secrets/resolve.ts";
import type { Secret } from "../../lib/secrets/secret.ts";
import { UsageError, UserError } from "../../lib/errors.ts";
import { main } from "../../cli.ts";
import { withTempDir } from "../helpers/fixtures.ts";
import { project, runRecordedWithSecrets } from "./helpers.ts";

const B = (name: string, time: string, complete = true) => ({ name, time, complete });
const BACKUPS = [
  B("2025-01-01T030000Z", "2025-01-01T03:00:00+00:00"),
  B("2025-01-02T030000Z", "2025-01-02T03:00:00+00:00"),
  B("2025-01-03T030000Z", "2025-01-03T03:00:00+00:00", false),
];

Deno.test("--date: a day is its end (UTC); a time without a zone is UTC; anything else is a usage error", () => {
  assert.equal(parseDateFlag("2025-01-01").toISOString(), "2025-01-01T23:59:59.999Z");
  assert.equal(parseDateFlag("2025-01-01T12:30").toISOString(), "2025-01-01T12:30:00.000Z");
  assert.equal(
    parseDateFlag("2025-01-01T12:30:00+02:00").toISOString(),
    "2025-01-01T10:30:00.000Z",
  );
  for (const bad of ["yesterday", "2025-13-01", "01/02/2025"]) {
    assert.throws(
      () => parseDateFlag(bad),
      (e) => e instanceof UsageError && e.exitCode === 2,
      bad,
    );
  }
});

Deno.test("chooseBackup: the latest complete one, the last before a date, one by name", () => {
  const source = "rclone backups of web1 (production)";
  assert.equal(
    chooseBackup(BACKUPS, { source }).name,
    "2025-01-02T030000Z",
    "unfinished ones never",
  );
  assert.equal(
    chooseBackup(BACKUPS, { source, date: parseDateFlag("2025-01-01") }).name,
    "2025-01-01T030000Z",
  );
  assert.equal(
    chooseBackup(BACKUPS, { source, archive: "2025-01-01T030000Z" }).name,
    "2025-01-01T030000Z",
  );
  assert.throws(
    () => chooseBackup(BACKUPS, { source, date: parseDateFlag("2024-12-31") }),
    (e) =>
      e instanceof UserError && /no backup from before 2024-12-31T23:59:59\.999Z/.test(e.message),
  );
  assert.throws(
    () => chooseBackup(BACKUPS, { source, archive: "2025-01-03T030000Z" }),
    (e) => e instanceof UserError && /only an unfinished backup named/.test(e.message),
  );
  assert.throws(
    () => chooseBackup([], { source }),
    (e) => e instanceof UserError && /Back up first: .* has no complete backup/.test(e.message),
  );
  assert.equal(stampTime("2025-01-31T030405Z"), "2025-01-31T03:04:05+00:00");
  assert.equal(stampTime("latest"), undefined);
});

Deno.test("restoreUnits: the units of the strategy in use (and litestream) are stopped", async () => {
  const cases: [string, string, string[]][] = [
    ["in_place", 'services = ["hello", "hello-worker"]', ["hello.service", "hello-worker.service"]],
    [
      "bluegreen",
      'services = ["hello", "hello-worker"]',
      ["hello.service", "hello-blue.service", "hello-green.service", "hello-worker.service"],
    ],
    [
      "zero_downtime",
      'modules = ["core", "litestream"]',
      ["hello.service", "hello-blue.service", "hello-green.service", "litestream.service"],
    ],
  ];
  for (const [strategy, extra, units] of cases) {
    await withTempDir(async (dir) => {
      const loaded = await project(
        dir,
        `project_name = "hello"\ndeployment_strategy = "${strategy}"\n${extra}\n`,
      );
      assert.deepEqual(restoreUnits(loaded.host), units, strategy);
    });
  }
});

const TOML = `project_name = "hello"
deployment_strategy = "bluegreen"
modules = ["core", "rclone"]

[rclone.remote]
type = "sftp"
host = "store.example.com"
user = "store"
pass = "file:pw"
`;

Deno.test("restore plan: the app user lists, fetches and puts in place (credentials on stdin only); root only stops and starts units", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, TOML, { secrets: { pw: "the-sftp-password-123" } });
    const source = await backupSource({
      project: loaded.project,
      env: loaded.env,
      backend: "rclone",
      host: loaded.host,
      secrets: new SecretResolver({ onSecret: () => {}, baseDir: loaded.project.repo_dir }),
    });
    const requests: unknown[] = [];
    const r = await runRecordedWithSecrets({
      loaded,
      plan: restorePlan(loaded.host, { source, dbOnly: false }),
      facts: { "user:app": { out: "app:x:1001:1001::/home/app:/bin/bash" } },
      respond: (cmd) => {
        if (cmd.argv[0] === "sh" && cmd.argv[2].startsWith("command -v")) {
          return { stdout: "missing\n" };
        }
        if (cmd.argv[2] === "list") return { stdout: JSON.stringify(BACKUPS) + "\n" };
        if (cmd.argv[0] === "sh" && cmd.argv[2].includes("is-active")) {
          return { stdout: "hello-blue.service\n" };
        }
        if (cmd.argv[2] === "fetch") {
          requests.push(JSON.parse((cmd.stdin as Secret).reveal()));
          return { stdout: "fetched 2025-01-02T030000Z\n" };
        }
        if (cmd.argv[2] === "apply") {
          requests.push(JSON.parse(String(cmd.stdin)));
          return {
            stdout: 'restored\n@@djaploy-restore {"ok": true, "databases": ["hello.sqlite3"], ' +
              '"files": ["media"]}\n',
          };
        }
        return undefined;
      },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines().slice(1), [
      "sudo -n -H -- sh -c 'command -v \"$1\" >/dev/null || echo missing' sh rclone",
      "sudo -n -H -- apt-get update -qq",
      "sudo -n -H -- env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rclone",
      "sudo -n -H -- sh -c 'set -e…' sh /usr/local/lib/djaploy/backup.py root:root 0755 < [stdin]",
      "sudo -n -H -- chmod 0755 /usr/local/lib/djaploy",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py list < [stdin]",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py fetch < [stdin]",
      'sudo -n -H -- sh -c \'for u; do systemctl is-active --quiet "$u" && echo "$u"; done; true\' sh hello.service hello-blue.service hello-green.service',
      "sudo -n -H -- systemctl stop hello-blue.service",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py apply < [stdin]",
      "sudo -n -H -- systemctl start hello-blue.service",
    ]);
    assert.ok(!r.text.includes("the-sftp-password-123"));
    const request = requests[0] as Record<string, unknown>;
    assert.equal(request.backup, "2025-01-02T030000Z");
    assert.deepEqual(request.source, {
      backend: "rclone",
      target: "djaploy:djaploy/hello/test/web1",
    });
    assert.match(String(request.rclone_conf), /^\[djaploy\]\ntype = sftp\n/);
    const target = {
      home_dir: "/home/app",
      data_dir: "/home/app/data",
      media_dir: "/home/app/apps/hello/shared/media",
      shared_dir: "/home/app/apps/hello/shared",
      staging_dir: "/home/app/apps/hello/.djaploy/restore",
    };
    assert.deepEqual(request.target, target);
    assert.deepEqual(requests[1], {
      backup: "2025-01-02T030000Z",
      db_only: false,
      databases: null,
      // No database setting in this config: every SQLite file of the data folder was backed up.
      expected: null,
      expected_from: null,
      expected_key: "rclone.databases",
      timestamp: null,
      target,
    }, "apply gets no credentials");
    assert.match(r.out, /restored 1 database, media from 2025-01-02T030000Z/);
    assert.match(r.out, /stopped and started hello-blue\.service/);
  });
});

Deno.test("restore plan: when putting in place fails, the stopped units start again and the fetched copy is discarded", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, TOML, { secrets: { pw: "the-sftp-password-123" } });
    const source = await backupSource({
      project: loaded.project,
      env: loaded.env,
      backend: "rclone",
      host: loaded.host,
      secrets: new SecretResolver({ onSecret: () => {}, baseDir: loaded.project.repo_dir }),
    });
    const r = await runRecordedWithSecrets({
      loaded,
      plan: restorePlan(loaded.host, { source, dbOnly: true }),
      facts: { "user:app": { out: "app:x:1001:1001::/home/app:/bin/bash" } },
      respond: (cmd) => {
        if (cmd.argv[2] === "list") return { stdout: JSON.stringify(BACKUPS) + "\n" };
        if (cmd.argv[0] === "sh" && cmd.argv[2].includes("is-active")) {
          return { stdout: "hello-green.service\n" };
        }
        if (cmd.argv[2] === "apply") {
          return { code: 1, stderr: "error: [Errno 13] Permission denied: '/home/app/data'\n" };
        }
        return undefined;
      },
    });
    assert.equal(r.result.ok, false);
    assert.match(String(r.result.error), /Permission denied/);
    assert.deepEqual(r.exec.lines().slice(-4), [
      "sudo -n -H -- systemctl stop hello-green.service",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py apply < [stdin]",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py discard < [stdin]",
      "sudo -n -H -- systemctl start hello-green.service",
    ]);
    assert.ok(!r.text.includes("the-sftp-password-123"));
  });
});

Deno.test("restore plan, borg: root pins the repository's host key in its own known_hosts; the app user gets it on stdin", async () => {
  await withTempDir(async (dir) => {
    const repo = "ssh://u1@store.example.com:23/./backups/hello";
    const loaded = await project(
      dir,
      `project_name = "hello"\nmodules = ["core", "borg"]\n\n[borg]\nrepository = "${repo}"\npassphrase = "file:pw"\n`,
      { secrets: { pw: "a-borg-passphrase-42" } },
    );
    const source = await backupSource({
      project: loaded.project,
      env: loaded.env,
      backend: "borg",
      host: loaded.host,
      secrets: new SecretResolver({ onSecret: () => {}, baseDir: loaded.project.repo_dir }),
    });
    const pinned = "[store.example.com]:23 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n";
    const requests: Record<string, unknown>[] = [];
    const r = await runRecordedWithSecrets({
      loaded,
      plan: restorePlan(loaded.host, { source, dbOnly: true }),
      facts: { "user:app": { out: "app:x:1001:1001::/home/app:/bin/bash" } },
      respond: (cmd) => {
        if (cmd.argv[2] === "known-hosts") {
          return { stdout: `@@djaploy-known-hosts ${JSON.stringify(pinned)}\n` };
        }
        if (cmd.argv[2] === "list") {
          requests.push(JSON.parse((cmd.stdin as Secret).reveal()));
          return {
            stdout: JSON.stringify([
              B("test-web1-2025-01-02T030000Z", "2025-01-02T03:00:00+00:00"),
            ]),
          };
        }
        if (cmd.argv[2] === "fetch") requests.push(JSON.parse((cmd.stdin as Secret).reveal()));
        return undefined;
      },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const pin = r.exec.recorded.find((c) => c.command?.argv[2] === "known-hosts")!.command!;
    assert.equal(pin.as, "root");
    assert.deepEqual(JSON.parse(String(pin.stdin)), {
      repository: repo,
      known_hosts: "/etc/djaploy/backups/hello/borg-known_hosts",
    });
    for (const request of requests) {
      assert.equal(request.known_hosts, pinned);
      assert.equal(request.borg_base_dir, "/home/app/apps/hello/.djaploy/borg");
      assert.equal(request.passphrase, "a-borg-passphrase-42");
    }
    assert.equal(requests.length, 2);
    assert.ok(!r.text.includes("a-borg-passphrase-42"));
    assert.ok(
      r.exec.recorded.filter((c) => /backup\.py (list|fetch|apply)/.test(c.text))
        .every((c) => c.command?.as === "app"),
      "list, fetch and apply run as the app user",
    );
  });
});

Deno.test("restore plan: a host without the app is refused with what to do", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, TOML, { secrets: { pw: "pw-1234" } });
    const source = await backupSource({
      project: loaded.project,
      env: loaded.env,
      backend: "rclone",
      host: loaded.host,
      secrets: new SecretResolver({ onSecret: () => {}, baseDir: loaded.project.repo_dir }),
    });
    const r = await runRecordedWithSecrets({
      loaded,
      plan: restorePlan(loaded.host, { source, dbOnly: true }),
    });
    assert.equal(r.result.ok, false);
    assert.match(String(r.result.error), /Prepare web1 first: the app's user app does not exist/);
    assert.equal(r.exec.lines().length, 1, "nothing but the facts ran");
  });
});

Deno.test("parseRestoreResult: the last marker line", () => {
  assert.deepEqual(
    parseRestoreResult('x\n@@djaploy-restore {"ok": true, "databases": ["a"], "files": []}\n'),
    { ok: true, databases: ["a"], files: [] },
  );
  assert.equal(parseRestoreResult("nothing"), undefined);
});

Deno.test("djaploy restore: flag errors exit 2 before any connection", async () => {
  await withTempDir(async (dir) => {
    await project(dir, TOML, {
      secrets: { pw: "pw-1234" },
      inventory: '[[hosts]]\nname = "web1"\nssh_hostname = "10.255.255.1"\n',
    });
    const config = join(dir, "infra", "djaploy.toml");
    const cases: [string[], RegExp][] = [
      [["--date", "yesterday"], /--date must be a date or a time/],
      [["--date", "2025-01-01", "--archive", "x"], /Choose one of --date and --archive/],
      [["--backend", "tape"], /--backend must be one of "rclone", "borg", "litestream"/],
      [["--backend", "borg"], /Enable the borg module in test/],
      [["--output", "x"], /--output is for --target local/],
      [["--target", "nope"], /Unknown environment "nope"/],
      [["--database", "a.sqlite3,"], /Give --database the file names of databases in the backup/],
      [
        ["--database", "a.sqlite3", "--target", "local"],
        /Drop --database with --target local/,
      ],
    ];
    if (!Deno.stdin.isTerminal()) {
      cases.push([[], /Add --yes to restore without a terminal/]);
    }
    for (const [flags, message] of cases) {
      const err: string[] = [];
      const code = await main(["restore", "--config", config, "--env", "test", ...flags], {
        write: () => {},
        writeErr: (t) => err.push(t),
        isTerminal: false,
      });
      assert.equal(code, 2, `${flags.join(" ")}: ${err.join("")}`);
      assert.match(err.join(""), message, flags.join(" "));
    }
  });
});

Deno.test("restore plan, several databases: --database and the target's databases reach the program; --database implies databases only", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(
      dir,
      TOML + '\n[django]\ndatabases = ["default", "analytics"]\n\n[env]\n' +
        'DATABASE_PATH = "/home/app/data/hello.sqlite3"\n\n' +
        '[rclone]\ndatabases = ["hello.sqlite3", "analytics.sqlite3"]\n',
      { secrets: { pw: "the-sftp-password-123" } },
    );
    const source = await backupSource({
      project: loaded.project,
      env: loaded.env,
      backend: "rclone",
      host: loaded.host,
      secrets: new SecretResolver({ onSecret: () => {}, baseDir: loaded.project.repo_dir }),
    });
    const requests: Record<string, unknown>[] = [];
    const r = await runRecordedWithSecrets({
      loaded,
      plan: restorePlan(loaded.host, {
        source,
        dbOnly: false,
        databases: ["analytics.sqlite3"],
      }),
      facts: { "user:app": { out: "app:x:1001:1001::/home/app:/bin/bash" } },
      respond: (cmd) => {
        if (cmd.argv[2] === "list") return { stdout: JSON.stringify(BACKUPS) + "\n" };
        if (cmd.argv[2] === "fetch") requests.push(JSON.parse((cmd.stdin as Secret).reveal()));
        if (cmd.argv[2] === "apply") {
          requests.push(JSON.parse(String(cmd.stdin)));
          return { stdout: '@@djaploy-restore {"ok": true, "databases": ["analytics.sqlite3"]}\n' };
        }
        return undefined;
      },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    for (const request of requests) {
      assert.equal(request.db_only, true);
      assert.deepEqual(request.databases, ["analytics.sqlite3"]);
      assert.deepEqual(request.expected, ["hello.sqlite3", "analytics.sqlite3"]);
      assert.equal(request.expected_from, "rclone.databases");
    }
    assert.equal(requests.length, 2);
    assert.match(r.out, /restored 1 database from 2025-01-02T030000Z/);
  });
});
