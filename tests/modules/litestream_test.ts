/**
 * litestream cannot be downloaded here: its configuration, unit and commands
 * are checked with the recording executor, and the installed-binary path
 * runs against an archive served on 127.0.0.1 (a matching checksum installs,
 * a mismatching one is refused before anything reaches the host).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../lib/errors.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { litestreamUnit, litestreamYml } from "../../templates/litestream.ts";
import { sh, sha256hex, withTempDir, writtenFiles } from "../helpers/fixtures.ts";
import {
  configurePlan,
  project,
  runRecordedWithSecrets,
  serveFiles,
  tarGz,
  withCache,
} from "./helpers.ts";
import { sha256 } from "../../lib/host/remote_ops.ts";
import { backupSource } from "../../lib/backup/source.ts";
import { restorePlan } from "../../lib/backup/restore_steps.ts";
import { parseDateFlag } from "../../lib/backup/choose.ts";
import { SecretResolver } from "../../lib/secrets/resolve.ts";
import { BACKUP_PY } from "../../templates/backup_py.ts";

const SECRET_KEY = "s3-secret-key-0d9c1e";

function toml(url: string, sha: string): string {
  return `project_name = "hello"
modules = ["litestream"]

[litestream]
url = "${url}/v{version}/litestream-v{version}-linux-{arch}.tar.gz"
sha256 = "${sha}"
databases = ["hello.sqlite3"]

[[litestream.replicas]]
type = "s3"
bucket = "backups"
path = "hello"
endpoint = "https://s3.example.com"
access_key_id = "AKIAEXAMPLE"
secret_access_key = "file:s3-secret"
force_path_style = true
retention = "72h"

[[litestream.replicas]]
type = "file"
path = "/var/backups/litestream"
`;
}

Deno.test("litestream.yml: every database to every replica, secrets as given, values quoted", () => {
  const yml = litestreamYml(
    [{ name: "hello.sqlite3", path: "/home/app/data/hello.sqlite3" }],
    [
      {
        type: "s3",
        bucket: "b",
        path: "hello/",
        endpoint: "https://s3.example.com",
        accessKeyId: "AK",
        secretAccessKey: 'S:K"y',
        forcePathStyle: true,
        retention: "72h",
        syncInterval: "1s",
      },
      { type: "sftp", host: "h:22", user: "u", password: "p", path: "/b" },
      { type: "file", path: "/var/backups/ls" },
    ],
  );
  assert.equal(
    yml,
    `# Written by djaploy from [litestream] (docs/operations-modules.md).
dbs:
  - path: "/home/app/data/hello.sqlite3"
    replicas:
      - type: "s3"
        bucket: "b"
        path: "hello/hello.sqlite3"
        endpoint: "https://s3.example.com"
        access-key-id: "AK"
        secret-access-key: "S:K\\"y"
        force-path-style: true
        retention: "72h"
        sync-interval: "1s"
      - type: "sftp"
        path: "/b/hello.sqlite3"
        host: "h:22"
        user: "u"
        password: "p"
      - type: "file"
        path: "/var/backups/ls/hello.sqlite3"
`,
  );
  const unit = litestreamUnit({
    appUser: "app",
    binary: "/usr/local/bin/litestream",
    config: "/etc/litestream.yml",
    confinement: { writable: ["/home/app/data"] },
  });
  assert.match(unit, /\nUser=app\n/);
  assert.match(
    unit,
    /\nExecStart=\/usr\/local\/bin\/litestream replicate -config \/etc\/litestream\.yml\n/,
  );
  assert.match(unit, /\nRestart=always\n/);
});

Deno.test("litestream config errors: a replica without its bucket, a secret key in the file", async () => {
  const cases: [string, RegExp][] = [
    [
      '[[litestream.replicas]]\ntype = "s3"\npath = "x"',
      /litestream\.replicas\[0\]\.bucket: is required/,
    ],
    [
      '[[litestream.replicas]]\ntype = "s3"\npath = "x"\nbucket = "bk"\nsecret_access_key = "plain"',
      /litestream\.replicas\[0\]\.secret_access_key: must be a secret reference/,
    ],
    [
      '[[litestream.replicas]]\ntype = "gcs"\npath = "x"',
      /replicas\[0\]\.type: must be one of "s3", "sftp", "file"/,
    ],
    [
      '[[litestream.replicas]]\ntype = "file"\npth = "x"',
      /unknown key "pth" \(did you mean "path"\?\)/,
    ],
  ];
  for (const [text, message] of cases) {
    await withTempDir(async (dir) => {
      await assert.rejects(
        project(dir, `project_name = "hello"\nmodules = ["litestream"]\n${text}\n`),
        (e) => e instanceof ConfigError && message.test(e.message),
        text,
      );
    });
  }
  await withTempDir(async (dir) => {
    const loaded = await project(dir, 'project_name = "hello"\nmodules = ["litestream"]\n');
    await assert.rejects(
      configurePlan(loaded.host, loaded.project.repo_dir),
      (e) => e instanceof ConfigError && /litestream\.sha256 is missing/.test(e.message),
    );
  });
});

const put = (path: string, owner: string, mode: string) =>
  `sudo -n -H -- sh -c 'set -e…' sh ${path} ${owner} ${mode} < [stdin]`;

Deno.test("litestream module: the served archive with a matching checksum is shipped and installed; config 0640 with the secret; unit started", async () => {
  await withTempDir(async (dir) => {
    const archive = await tarGz(dir, {
      "litestream": { text: "#!/bin/sh\necho v0.3.13\n", mode: 0o755 },
    });
    const sha = sha256hex(archive);
    const server = serveFiles({ "/v0.3.13/litestream-v0.3.13-linux-amd64.tar.gz": archive });
    try {
      await withCache(dir, async () => {
        const loaded = await project(dir, toml(server.url, sha), {
          secrets: { "s3-secret": SECRET_KEY },
        });
        const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
        const r = await runRecordedWithSecrets({
          loaded,
          plan,
          facts: { "uname-m": { out: "x86_64\n" } },
        });
        assert.equal(r.result.ok, true, String(r.result.error));
        assert.deepEqual(server.requests, ["/v0.3.13/litestream-v0.3.13-linux-amd64.tar.gz"]);
        const local = join(dir, "cache", "downloads", sha);
        const shipped = `/var/cache/djaploy/downloads/${sha}/litestream-v0.3.13-linux-amd64.tar.gz`;
        assert.deepEqual(r.exec.lines().slice(1), [
          put("/usr/local/lib/djaploy/backup.py", "root:root", "0755"),
          "sudo -n -H -- chmod 0755 /usr/local/lib/djaploy",
          `sudo -n -H -- install -d -m 0755 /var/cache/djaploy/downloads/${sha}`,
          `rsync ${local}/ -> /var/cache/djaploy/downloads/${sha}/ (as root)`,
          `sudo -n -H -- sh -c 'set -e…' sh ${shipped} ${sha} /usr/local/bin/litestream`,
          put("/usr/local/lib/djaploy/litestream.sha256", "root:root", "0644"),
          put("/etc/litestream.yml", "root:app", "0640"),
          put("/etc/systemd/system/litestream.service", "root:root", "0644"),
          "sudo -n -H -- systemctl daemon-reload",
          "sudo -n -H -- systemctl enable --now --quiet litestream.service",
        ]);
        assert.ok(!r.text.includes(SECRET_KEY) && !r.out.includes(SECRET_KEY));
        const yml = r.exec.recorded.find((c) => c.command?.argv[4] === "/etc/litestream.yml")!;
        assert.ok(yml.command!.stdin instanceof Secret);
        const files = writtenFiles(r.exec.recorded);
        assert.match(
          files.get("/etc/litestream.yml")!,
          /secret-access-key: "s3-secret-key-0d9c1e"/,
        );
        assert.match(
          files.get("/etc/litestream.yml")!,
          /path: "\/home\/app\/data\/hello\.sqlite3"/,
        );
        assert.equal(files.get("/usr/local/lib/djaploy/litestream.sha256"), `${sha}\n`);

        // The install script itself, run here on the served (and verified) archive.
        const install = r.exec.recorded[5].command!;
        const bin = join(dir, "bin", "litestream");
        await Deno.mkdir(join(dir, "bin"));
        const run = await sh(install.argv[2], [
          join(local, "litestream-v0.3.13-linux-amd64.tar.gz"),
          sha,
          bin,
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.equal((await sh(bin)).stdout, "v0.3.13\n");
        assert.equal((await Deno.stat(bin)).mode! & 0o777, 0o755);
        const bad = await sh(install.argv[2], [
          join(local, "litestream-v0.3.13-linux-amd64.tar.gz"),
          "0".repeat(64),
          bin,
        ]);
        assert.notEqual(bad.code, 0, "the server checks the hash again");
        assert.match(bad.stderr, /SHA-256 mismatch on the server/);

        // Installed already (the marker holds the hash): nothing downloaded, nothing installed.
        const again = await runRecordedWithSecrets({
          loaded,
          plan,
          facts: {
            "uname-m": { out: "x86_64\n" },
            "file-hashes": {
              out: `${sha256(`${sha}\n`)}  /usr/local/lib/djaploy/litestream.sha256\n`,
            },
          },
        });
        assert.equal(server.requests.length, 1);
        assert.ok(!again.text.includes("rsync"), again.text);
      });
    } finally {
      await server.close();
    }
  });
});

Deno.test("litestream module: an archive whose checksum does not match is refused; nothing reaches the host", async () => {
  await withTempDir(async (dir) => {
    const archive = await tarGz(dir, { "litestream": { text: "#!/bin/sh\n", mode: 0o755 } });
    const server = serveFiles({ "/v0.3.13/litestream-v0.3.13-linux-arm64.tar.gz": archive });
    try {
      await withCache(dir, async () => {
        const wrong = "ab".repeat(32);
        const loaded = await project(dir, toml(server.url, wrong), {
          secrets: { "s3-secret": SECRET_KEY },
        });
        const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
        const r = await runRecordedWithSecrets({
          loaded,
          plan,
          facts: { "uname-m": { out: "aarch64\n" } },
        });
        assert.equal(r.result.ok, false);
        assert.equal(r.result.failedStep, "litestream binary");
        assert.match(
          String(r.result.error),
          new RegExp(
            `Refused litestream 0\\.3\\.13 from .*linux-arm64\\.tar\\.gz: its SHA-256 is ${
              sha256hex(archive)
            }, not the configured ${wrong}`,
          ),
        );
        assert.ok(
          !r.text.includes("rsync") && !r.text.includes("/usr/local/bin/litestream"),
          `nothing was sent or installed: ${r.text}`,
        );
        await assert.rejects(Deno.stat(join(dir, "cache", "downloads", wrong)), "nothing cached");
      });
    } finally {
      await server.close();
    }
  });
});

Deno.test("restore --backend litestream: a point in time, with the source's litestream.yml on stdin", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, toml("https://example.com", "a".repeat(64)), {
      secrets: { "s3-secret": SECRET_KEY },
    });
    const source = await backupSource({
      project: loaded.project,
      env: loaded.env,
      backend: "litestream",
      host: loaded.host,
      secrets: new SecretResolver({ onSecret: () => {}, baseDir: loaded.project.repo_dir }),
    });
    let request: Record<string, unknown> = {};
    const r = await runRecordedWithSecrets({
      loaded,
      plan: restorePlan(loaded.host, {
        source,
        dbOnly: true,
        date: parseDateFlag("2025-02-03T04:05"),
      }),
      facts: { "user:app": { out: "app:x:1001:1001::/home/app:/bin/bash" } },
      respond: (cmd) => {
        if (cmd.argv[0] === "sh" && cmd.argv[2].includes("is-active")) {
          return { stdout: "hello.service\nlitestream.service\n" };
        }
        if (cmd.argv[2] === "fetch") request = JSON.parse((cmd.stdin as Secret).reveal());
        if (cmd.argv[2] !== "apply") return undefined;
        return {
          stdout: '@@djaploy-restore {"ok": true, "databases": ["hello.sqlite3"], "files": []}\n',
        };
      },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines().slice(1), [
      "sudo -n -H -- sh -c 'command -v \"$1\" >/dev/null || echo missing' sh litestream",
      put("/usr/local/lib/djaploy/backup.py", "root:root", "0755"),
      "sudo -n -H -- chmod 0755 /usr/local/lib/djaploy",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py fetch < [stdin]",
      'sudo -n -H -- sh -c \'for u; do systemctl is-active --quiet "$u" && echo "$u"; done; true\' sh hello.service litestream.service',
      "sudo -n -H -- systemctl stop hello.service",
      "sudo -n -H -- systemctl stop litestream.service",
      "sudo -n -H -u app -- /usr/bin/python3 /usr/local/lib/djaploy/backup.py apply < [stdin]",
      "sudo -n -H -- systemctl start hello.service",
      "sudo -n -H -- systemctl start litestream.service",
    ]);
    assert.ok(!r.text.includes(SECRET_KEY));
    assert.equal(request.timestamp, "2025-02-03T04:05:00.000Z");
    assert.equal(request.backup, "2025-02-03T04:05:00.000Z");
    assert.deepEqual(request.source, {
      backend: "litestream",
      databases: [{ name: "hello.sqlite3", path: "/home/app/data/hello.sqlite3" }],
    });
    assert.match(String(request.litestream_yml), /secret-access-key: "s3-secret-key-0d9c1e"/);
    assert.match(r.out, /stopped and started hello\.service, litestream\.service/);
  });
});

Deno.test("backup.py fetch and apply (litestream), as an unprivileged user: `litestream restore -timestamp` into the staging folder, checked, put in place", async () => {
  if ((await sh("test -x /usr/bin/python3 && command -v setpriv")).code !== 0) return;
  if (Deno.uid?.() !== 0) return;
  await withTempDir(async (dir) => {
    // A stand-in litestream: copies a prepared database to -o and logs its arguments.
    const fixture = join(dir, "fixture.sqlite3");
    await sh(
      `/usr/bin/python3 -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.execute("create table t(x)"); d.execute("insert into t values (1)"); d.commit()' "$1"`,
      [fixture],
    );
    await Deno.mkdir(join(dir, "bin"));
    await Deno.writeTextFile(
      join(dir, "bin", "litestream"),
      `#!/bin/sh\necho "$*" >> "${dir}/calls"\nwhile [ $# -gt 1 ]; do [ "$1" = -o ] && out=$2; shift; done\ncp "${fixture}" "$out"\n`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(join(dir, "backup.py"), BACKUP_PY);
    const request = {
      source: {
        backend: "litestream",
        databases: [{ name: "hello.sqlite3", path: "/home/app/data/hello.sqlite3" }],
      },
      litestream_yml: "dbs: []\n",
      backup: "2025-02-03T04:05:00.000Z",
      timestamp: "2025-02-03T04:05:00.000Z",
      db_only: true,
      target: {
        data_dir: join(dir, "data"),
        media_dir: join(dir, "media"),
        shared_dir: join(dir, "shared"),
        staging_dir: join(dir, "staging"),
      },
    };
    // As the app's user would run it on a server (nobody here).
    assert.equal((await sh(`chown -R 65534:65534 "$1"`, [dir])).code, 0);
    const asUser = async (command: string) => {
      const child = new Deno.Command("setpriv", {
        args: [
          ...["--reuid=65534", "--regid=65534", "--clear-groups", "--"],
          ...["/usr/bin/python3", join(dir, "backup.py"), command],
        ],
        env: { PATH: `${dir}/bin:${Deno.env.get("PATH")}` },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify(request)));
      await w.close();
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${command}: ${text}`);
      return text;
    };
    await asUser("fetch");
    const text = await asUser("apply");
    const calls = await Deno.readTextFile(join(dir, "calls"));
    assert.match(
      calls,
      new RegExp(
        `^restore -config \\S+/litestream_yml -o ${dir}/staging/db/hello\\.sqlite3 -timestamp 2025-02-03T04:05:00\\.000Z /home/app/data/hello\\.sqlite3\\n$`,
      ),
    );
    assert.ok((await Deno.stat(join(dir, "data", "hello.sqlite3"))).isFile);
    assert.match(text, /@@djaploy-restore \{"ok": true, "databases": \["hello\.sqlite3"\]/);
  });
});
