import assert from "node:assert/strict";
import { ConfigError } from "../../lib/errors.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { withTempDir, writtenFiles } from "../helpers/fixtures.ts";
import { configurePlan, project, runRecordedWithSecrets } from "./helpers.ts";
import { sha256 } from "../../lib/host/remote_ops.ts";
import { operationsSecretRefs } from "../../lib/backup/secret_refs.ts";
import { secretRefsOf } from "../../lib/secrets/resolve.ts";

const PASSPHRASE = "correct horse battery staple 91";
const KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
const REPO = "ssh://u123@u123.example.com:23/./backups/hello";

const BORG_TOML = `project_name = "hello"
modules = ["borg"]

[borg]
repository = "${REPO}"
remote_path = "borg-1.2"
passphrase = "file:borg-passphrase"
ssh_key = "file:borg-key"
compression = "zstd,6"
schedule = "@hourly"
keep_within = "2d"
keep_hourly = 24
keep_daily = 7
keep_weekly = 4
keep_monthly = 12
`;

const DIR = "/etc/djaploy/backups/hello";
const put = (path: string, owner: string, mode: string) =>
  `sudo -n -H -- sh -c 'set -e…' sh ${path} ${owner} ${mode} < [stdin]`;

Deno.test("borg config errors: a passphrase written in the file, a bad compression, a bad keep_within", async () => {
  const cases: [string, RegExp][] = [
    ['[borg]\npassphrase = "hunter2"', /borg\.passphrase: must be a secret reference/],
    ['[borg]\ncompression = "gzip"', /borg\.compression: must match/],
    ['[borg]\nkeep_within = "2 days"', /borg\.keep_within: must match/],
    ['[borg]\nencryption = "keyfile"', /borg\.encryption: must be one of "repokey-blake2"/],
    ['[borg]\nrepository = "backups"', /borg\.repository: must match/],
  ];
  for (const [toml, message] of cases) {
    await withTempDir(async (dir) => {
      await assert.rejects(
        project(dir, `project_name = "hello"\nmodules = ["borg"]\n${toml}\n`),
        (e) => e instanceof ConfigError && message.test(e.message),
        toml,
      );
    });
  }
});

Deno.test("borg module: without repository and passphrase the plan stops before any connection", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, 'project_name = "hello"\nmodules = ["borg"]\n');
    await assert.rejects(
      configurePlan(loaded.host, loaded.project.repo_dir),
      (e) =>
        e instanceof ConfigError &&
        /borg\.repository and borg\.passphrase are missing/.test(e.message),
    );
  });
});

Deno.test("borg module: the passphrase and key go to 0600 files on stdin; the host key is pinned by root, init runs as the app user; settings carry the retention", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, BORG_TOML, {
      secrets: { "borg-passphrase": PASSPHRASE, "borg-key": KEY },
    });
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    assert.deepEqual(plan.packages, ["borgbackup", "openssh-client"]);
    const r = await runRecordedWithSecrets({
      loaded,
      plan,
      respond: (cmd) =>
        cmd.argv.at(-2) === "init" ? { stdout: `created repository ${REPO}\n` } : undefined,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines().slice(1), [
      put("/usr/local/lib/djaploy/backup.py", "root:root", "0755"),
      "sudo -n -H -- chmod 0755 /usr/local/lib/djaploy",
      put(`${DIR}/borg-passphrase`, "root:root", "0600"),
      put(`${DIR}/borg-ssh-key`, "root:root", "0600"),
      put(`${DIR}/backup-borg.json`, "root:root", "0600"),
      // Root only pins the repository host's key, in its own file.
      "sudo -n -H -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py known-hosts < [stdin]",
      // init runs as the app's user with the job's credentials, as the timer's runs do.
      "sudo -n -H -- systemd-run --quiet --wait --pipe --collect --service-type=oneshot" +
      " -p User=app -p Group=app" +
      ` -p LoadCredential=backup-borg.json:${DIR}/backup-borg.json` +
      ` -p LoadCredential=borg-passphrase:${DIR}/borg-passphrase` +
      ` -p LoadCredential=borg-ssh-key:${DIR}/borg-ssh-key` +
      ` -p LoadCredential=borg-known_hosts:${DIR}/borg-known_hosts` +
      " -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py init backup-borg.json",
      put(`${DIR}/borg-repository`, "root:root", "0600"),
      put("/etc/systemd/system/hello-backup-borg.service", "root:root", "0644"),
      put("/etc/systemd/system/hello-backup-borg.timer", "root:root", "0644"),
      "sudo -n -H -- systemctl daemon-reload",
      "sudo -n -H -- systemctl enable --now --quiet hello-backup-borg.timer",
    ]);
    for (const text of [r.text, r.out, r.err]) {
      assert.ok(!text.includes(PASSPHRASE), "the passphrase shows nowhere");
      assert.ok(!text.includes("b3BlbnNzaC1rZXktdjEAAAAA"), "the key shows nowhere");
    }
    const stdinOf = (path: string) =>
      r.exec.recorded.find((c) => c.command?.argv[4] === path)!.command!.stdin;
    assert.ok(stdinOf(`${DIR}/borg-passphrase`) instanceof Secret);
    assert.ok(stdinOf(`${DIR}/borg-ssh-key`) instanceof Secret);
    const files = writtenFiles(r.exec.recorded);
    assert.equal(files.get(`${DIR}/borg-passphrase`), PASSPHRASE);
    assert.equal(files.get(`${DIR}/borg-ssh-key`), `${KEY}\n`, "a key file ends with a newline");
    assert.equal(files.get(`${DIR}/borg-repository`), `${REPO}\nuser app\n`);
    const pin = r.exec.recorded.find((c) => c.command?.argv.at(-1) === "known-hosts")!.command!;
    assert.deepEqual(JSON.parse(String(pin.stdin)), {
      repository: REPO,
      known_hosts: `${DIR}/borg-known_hosts`,
    });
    const service = files.get("/etc/systemd/system/hello-backup-borg.service")!;
    assert.match(service, /^User=app\nGroup=app\n/m);
    assert.match(
      service,
      new RegExp(
        `^LoadCredential=backup-borg.json:${DIR}/backup-borg.json\nLoadCredential=borg-passphrase:` +
          `${DIR}/borg-passphrase\nLoadCredential=borg-ssh-key:${DIR}/borg-ssh-key\n` +
          `LoadCredential=borg-known_hosts:${DIR}/borg-known_hosts\n` +
          "ExecStart=/usr/bin/python3 /usr/local/lib/djaploy/backup.py run backup-borg.json$",
        "m",
      ),
    );
    const settings = JSON.parse(files.get(`${DIR}/backup-borg.json`)!);
    assert.deepEqual(
      {
        repository: settings.repository,
        remote_path: settings.remote_path,
        compression: settings.compression,
        archive_prefix: settings.archive_prefix,
        passphrase_file: settings.passphrase_file,
        ssh_key_file: settings.ssh_key_file,
        known_hosts: settings.known_hosts,
        borg_base_dir: settings.borg_base_dir,
        keep: [
          settings.keep_within,
          settings.keep_hourly,
          settings.keep_daily,
          settings.keep_weekly,
          settings.keep_monthly,
        ],
        lock_wait: settings.lock_wait,
      },
      {
        repository: REPO,
        remote_path: "borg-1.2",
        compression: "zstd,6",
        archive_prefix: "test-web1-",
        passphrase_file: `${DIR}/borg-passphrase`,
        ssh_key_file: `${DIR}/borg-ssh-key`,
        known_hosts: `${DIR}/borg-known_hosts`,
        borg_base_dir: "/home/app/apps/hello/.djaploy/borg",
        keep: ["2d", 24, 7, 4, 12],
        lock_wait: 60,
      },
    );
    assert.ok(!JSON.stringify(settings).includes(PASSPHRASE));
    assert.match(r.out, /created the borg repository/);
    assert.match(
      files.get("/etc/systemd/system/hello-backup-borg.timer")!,
      /OnCalendar=\*-\*-\* \*:00:00/,
    );
  });
});

Deno.test("borg module: the repository is not initialised again once the marker says so", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, BORG_TOML, {
      secrets: { "borg-passphrase": PASSPHRASE, "borg-key": KEY },
    });
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    const r = await runRecordedWithSecrets({
      loaded,
      plan,
      facts: {
        "file-hashes": { out: `${sha256(`${REPO}\nuser app\n`)}  ${DIR}/borg-repository\n` },
      },
    });
    assert.ok(!r.text.includes("backup.py init"), r.text);
    assert.ok(!r.text.includes("known-hosts"), r.text);
  });
});

Deno.test("secret references of the enabled operations modules are resolved with the run's others", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(
      dir,
      `${BORG_TOML}\n[tailscale]\nauth_key = "op://Infra/ts/key"\n`,
    );
    assert.deepEqual(
      operationsSecretRefs(loaded.host).map((r) => r.source),
      ["file:borg-passphrase", "file:borg-key"],
      "tailscale is not enabled: its key is not read",
    );
    const both = await project(
      dir,
      BORG_TOML.replace('modules = ["borg"]', 'modules = ["borg", "tailscale"]') +
        '\n[tailscale]\nauth_key = "op://Infra/ts/key"\n',
    );
    assert.deepEqual(
      secretRefsOf(both.project, [both.host]).map((r) => r.source),
      ["file:borg-passphrase", "file:borg-key", "op://Infra/ts/key"],
    );
  });
});

Deno.test("borg module: borg.databases outside the data folder is in the job's settings and the job may open its folder; configure names it", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(
      dir,
      BORG_TOML.replace("[borg]\n", '[borg]\ndatabases = ["/home/app/db/x.sqlite3"]\n'),
      { secrets: { "borg-passphrase": PASSPHRASE, "borg-key": KEY } },
    );
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    const r = await runRecordedWithSecrets({ loaded, plan });
    assert.equal(r.result.ok, true, String(r.result.error));
    const files = writtenFiles(r.exec.recorded);
    const settings = JSON.parse(files.get(`${DIR}/backup-borg.json`)!);
    assert.deepEqual(settings.databases, [{
      name: "~/db/x.sqlite3",
      path: "/home/app/db/x.sqlite3",
    }]);
    assert.equal(settings.scan_data_dir, false);
    assert.match(files.get("/etc/systemd/system/hello-backup-borg.service")!, /-\/home\/app\/db\b/);
    assert.match(r.out, /borg backs up \/home\/app\/db\/x\.sqlite3 \(borg\.databases\)/);
  });
});
