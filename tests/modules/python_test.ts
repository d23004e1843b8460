/**
 * python_compile: the build path with a tiny fake CPython source archive
 * served on 127.0.0.1 (its ./configure writes a Makefile whose altinstall
 * installs a stand-in python3.12). The commands are checked with the
 * recording executor, and the build script itself runs here on the archive.
 * A real CPython build is not run by the unit tests (minutes of CPU).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../lib/errors.ts";
import { sha256 } from "../../lib/host/remote_ops.ts";
import { BUILD_PACKAGES } from "../../modules/core/python.ts";
import { BUILD_PYTHON_SH } from "../../templates/python_build.ts";
import { sh, sha256hex, withTempDir } from "../helpers/fixtures.ts";
import {
  configurePlan,
  project,
  runRecordedWithSecrets,
  serveFiles,
  tarGz,
  withCache,
} from "./helpers.ts";

/** configure: counts its runs in $FAKE_LOG; make altinstall installs bin/python3.12. */
const CONFIGURE = `#!/bin/sh
for a; do case $a in --prefix=*) prefix=\${a#--prefix=} ;; esac; done
echo configure "$@" >> "\${FAKE_LOG:-/dev/null}"
printf 'all:\\n\\t@echo compiled\\naltinstall:\\n\\tmkdir -p %s/bin\\n\\tcp fakepython %s/bin/python3.12\\n\\tchmod 0755 %s/bin/python3.12\\n' "$prefix" "$prefix" "$prefix" > Makefile
`;
const FAKE_PYTHON = "#!/bin/sh\necho 3.12.0\n";

async function fakeSources(dir: string): Promise<Uint8Array> {
  return await tarGz(dir, {
    "Python-3.12.0/configure": { text: CONFIGURE, mode: 0o755 },
    "Python-3.12.0/fakepython": { text: FAKE_PYTHON, mode: 0o755 },
  });
}

function toml(url: string, sha: string): string {
  return `project_name = "hello"
python_version = "3.12"
python_compile = true
python_source_url = "${url}/ftp/python/3.12.0/Python-3.12.0.tgz"
python_source_sha256 = "${sha}"
modules = ["core"]
`;
}

Deno.test("python_compile: Debian's python packages are replaced by the build's; sources are required", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, toml("https://example.com", "a".repeat(64)));
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    assert.ok(!plan.packages.includes("python3.12") && !plan.packages.includes("python3.12-venv"));
    for (const p of BUILD_PACKAGES) assert.ok(plan.packages.includes(p), p);
    assert.ok(plan.files.includes("/opt/python3.12/.djaploy-source-sha256"));
  });
  await withTempDir(async (dir) => {
    const loaded = await project(
      dir,
      'project_name = "hello"\npython_compile = true\nmodules = ["core"]\n',
    );
    await assert.rejects(
      configurePlan(loaded.host, loaded.project.repo_dir),
      (e) =>
        e instanceof ConfigError &&
        /python_source_url and python_source_sha256 are missing/.test(e.message),
    );
  });
  await withTempDir(async (dir) => {
    const loaded = await project(dir, 'project_name = "hello"\nmodules = ["core"]\n');
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    assert.ok(plan.packages.includes("python3.11-venv"), "without python_compile: Debian's");
    assert.ok(!plan.packages.includes("build-essential"));
  });
});

Deno.test("python_compile: the served archive is verified, shipped and built into /opt; the mark skips a rebuild", async () => {
  await withTempDir(async (dir) => {
    const archive = await fakeSources(dir);
    const sha = sha256hex(archive);
    const server = serveFiles({ "/ftp/python/3.12.0/Python-3.12.0.tgz": archive });
    try {
      await withCache(dir, async () => {
        const loaded = await project(dir, toml(server.url, sha));
        const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
        const installed = plan.packages.map((p) => `${p} installed\n`).join("");
        const r = await runRecordedWithSecrets({
          loaded,
          plan,
          facts: { packages: { out: installed } },
          respond: (cmd) =>
            cmd.argv[2] === BUILD_PYTHON_SH ? { stdout: "built 3.12.0\n" } : undefined,
        });
        assert.equal(r.result.ok, true, String(r.result.error));
        const local = join(dir, "cache", "downloads", sha);
        const lines = r.exec.lines();
        assert.equal(
          lines[1],
          `sudo -n -H -- install -d -m 0755 /var/cache/djaploy/downloads/${sha}`,
        );
        assert.equal(lines[2], `rsync ${local}/ -> /var/cache/djaploy/downloads/${sha}/ (as root)`);
        assert.equal(
          lines[3],
          `sudo -n -H -- sh -c 'set -e…' sh /var/cache/djaploy/downloads/${sha}/Python-3.12.0.tgz ${sha} /opt/python3.12 3.12 /usr/local/bin`,
        );
        assert.match(r.out, /system packages: building Python 3\.12 from Python-3\.12\.0\.tgz/);
        assert.match(r.out, /built 3\.12\.0 into \/opt\/python3\.12/);

        // Built before (the mark holds the archive's hash): nothing fetched, nothing built.
        const requests = server.requests.length;
        const again = await runRecordedWithSecrets({
          loaded,
          plan,
          facts: {
            packages: { out: installed },
            "file-hashes": {
              out: `${sha256(`${sha}\n`)}  /opt/python3.12/.djaploy-source-sha256\n`,
            },
          },
        });
        assert.equal(again.result.ok, true, String(again.result.error));
        assert.ok(!again.text.includes(BUILD_PYTHON_SH.split("\n")[0] + "…' sh /var"), again.text);
        assert.ok(!again.text.includes("rsync"), again.text);
        assert.equal(server.requests.length, requests);

        // The build script, run here on the verified archive: it builds, links, marks; then skips.
        const prefix = join(dir, "opt", "python3.12");
        const bin = join(dir, "bin");
        const log = join(dir, "configure.log");
        const env = { FAKE_LOG: log, PATH: Deno.env.get("PATH")! };
        const tgz = join(local, "Python-3.12.0.tgz");
        const build = await sh(BUILD_PYTHON_SH, [tgz, sha, prefix, "3.12", bin], { env });
        assert.equal(build.code, 0, build.stderr);
        assert.equal(build.stdout.trim(), "built 3.12.0");
        assert.equal((await sh(join(bin, "python3.12"))).stdout, "3.12.0\n");
        assert.equal(
          await Deno.readTextFile(join(bin, "python3.12")),
          `#!/bin/sh\n# Written by djaploy (python_compile): the Python built into ${prefix}.\n` +
            `exec ${prefix}/bin/python3.12 "$@"\n`,
          "a script that execs the build (a venv's home is then the prefix's bin/)",
        );
        assert.equal(await Deno.readTextFile(join(prefix, ".djaploy-source-sha256")), `${sha}\n`);
        assert.match(
          await Deno.readTextFile(log),
          new RegExp(`--prefix=${prefix} --with-ensurepip=install`),
        );
        const cached = await sh(BUILD_PYTHON_SH, [tgz, sha, prefix, "3.12", bin], { env });
        assert.equal(cached.code, 0, cached.stderr);
        assert.equal(cached.stdout, "", "nothing built");
        assert.equal(
          (await Deno.readTextFile(log)).trim().split("\n").length,
          1,
          "not configured again",
        );
        const wrongVersion = await sh(BUILD_PYTHON_SH, [tgz, sha, join(dir, "opt2"), "3.13", bin], {
          env,
        });
        assert.notEqual(wrongVersion.code, 0);
        assert.match(
          wrongVersion.stderr,
          /built no python3\.13: is python_source_url a 3\.13 release\?/,
        );
      });
    } finally {
      await server.close();
    }
  });
});

Deno.test("python_compile: an archive whose checksum does not match is refused before anything is sent", async () => {
  await withTempDir(async (dir) => {
    const archive = await fakeSources(dir);
    const server = serveFiles({ "/ftp/python/3.12.0/Python-3.12.0.tgz": archive });
    try {
      await withCache(dir, async () => {
        const loaded = await project(dir, toml(server.url, "0".repeat(64)));
        const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
        const r = await runRecordedWithSecrets({
          loaded,
          plan,
          facts: { packages: { out: plan.packages.map((p) => `${p} installed\n`).join("") } },
        });
        assert.equal(r.result.ok, false);
        assert.equal(r.result.failedStep, "system packages");
        assert.match(
          String(r.result.error),
          /Refused the Python 3\.12 sources from .*: its SHA-256 is/,
        );
        assert.equal(r.exec.lines().length, 1, r.text);
      });
    } finally {
      await server.close();
    }
  });
});
