/**
 * End to end, python_compile with a real CPython build (minutes of CPU, so
 * opt-in: DJAPLOY_E2E_SLOW=1). The sources are CPython 3.11.2's release
 * archive as Debian's mirror keeps it (python.org is not reachable from the
 * test machines), served to djaploy on 127.0.0.1; configure builds it into
 * /opt/python3.11 on a test host, the build has its usual modules and makes
 * virtualenvs, and a second configure does not rebuild.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { djaploy, e2eSkipReason, makeProject, type TestHost, withHosts } from "./harness.ts";
import { serveDir } from "../helpers/serve_dir.ts";
import { run } from "./harness/run.ts";

const SLOW = Deno.env.get("DJAPLOY_E2E_SLOW") === "1";
const SOURCES = "http://deb.debian.org/debian/pool/main/p/python3.11/python3.11_3.11.2.orig.tar.gz";
const SHA256 = "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849";

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

// Deno.test, not e2eTest: ignored unless asked for, as well as where hosts cannot boot.
Deno.test({
  name: "python_compile: CPython 3.11.2 built from source into /opt on a host; cached",
  ignore: !SLOW || e2eSkipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "djaploy-cpython-" });
    const server = serveDir(dir);
    try {
      const got = await run("curl", ["-sSfo", join(dir, "Python-3.11.2.tgz"), SOURCES]);
      assert.equal(got.code, 0, got.stderr);
      await withHosts(["web-1"], async ([host]) => {
        const project = await makeProject({
          hosts: [host],
          modules: ["core"],
          config: "",
        });
        const path = join(project.infraDir, "djaploy.toml");
        await project.write(
          "infra/djaploy.toml",
          (await Deno.readTextFile(path)).replace(
            /^modules = .*$/m,
            `modules = ["core"]\npython_compile = true\n` +
              `python_source_url = "${server.origin}/Python-3.11.2.tgz"\n` +
              `python_source_sha256 = "${SHA256}"`,
          ),
        );
        await project.commit("Build Python from source");

        const first = await djaploy(project, ["configure", "--env", "test"], {
          timeoutMs: 1_800_000,
        });
        assert.equal(first.code, 0, first.output);
        assert.match(first.output, /built 3\.11\.2 into \/opt\/python3\.11/);
        assert.match(
          await onHost(host, "cat /usr/local/bin/python3.11"),
          /\nexec \/opt\/python3\.11\/bin\/python3\.11 "\$@"$/,
        );
        assert.equal(
          await onHost(
            host,
            "/usr/local/bin/python3.11 -c 'import ssl, sqlite3, ctypes, zlib, bz2, lzma, venv; print(ssl.OPENSSL_VERSION.split()[0])'",
          ),
          "OpenSSL",
        );
        assert.equal(
          await onHost(
            host,
            "cd /tmp && python3.11 -m venv v && v/bin/python -m pip --version | cut -d' ' -f1 && grep ^home v/pyvenv.cfg",
          ),
          "pip\nhome = /opt/python3.11/bin",
        );

        const again = await djaploy(project, ["configure", "--env", "test"]);
        assert.equal(again.code, 0, again.output);
        assert.doesNotMatch(again.output, /built 3\.11\.2/);
        assert.match(again.output, /web-1 +ok +0 steps/);
      });
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
