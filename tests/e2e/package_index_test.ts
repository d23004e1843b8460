/**
 * End to end, on a real server: dependencies come from a real package index
 * (a PEP 503 index on the controller, asking for basic auth, serving wheels
 * this test builds from tests/fixtures/index). One host, one app, three
 * managers in turn, each deploy with its own lock file:
 *   1. pip with a pinned requirements.txt (djt-greeting==1.0);
 *   2. Poetry (Debian's, 1.3) with pyproject.toml + a poetry.lock that
 *      Poetry 1.3 itself generates here against the index (djt-greeting 2.0);
 *   3. uv, installed by configure from the index into /opt/djaploy/tools.
 *      The real uv cannot be downloaded here: the index serves a STAND-IN
 *      wheel named `uv` (tests/fixtures/index/uv-standin) whose `uv sync`
 *      records its arguments and installs uv.lock's pins with pip. What this
 *      proves is djaploy's install path for uv, not uv itself; the exact
 *      `uv sync --frozen` command line is covered by tests/dependency_tools_test.ts.
 * After the third deploy, the first deploy's virtualenv (neither live nor
 * previous) is gone; a fourth, with zero_downtime and a new lock, removes the
 * second's. Django and gunicorn come from Debian (system site packages).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { djaploy, e2eTest, httpGet, makeProject, type TestHost, withHosts } from "./harness.ts";
import { ok } from "./harness/expect.ts";
import { buildWheels, type PackageIndex, servePackageIndex } from "./harness/package_index.ts";
import { log } from "./harness/environment.ts";
import { run } from "./harness/run.ts";

const SHARED = "/home/app/apps/hello/shared";

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** What the live venv imports, run as the app user. */
async function greeting(host: TestHost): Promise<string> {
  return await onHost(
    host,
    `sudo -n -u app /home/app/apps/hello/venv/bin/python -c 'import djt_greeting; print(djt_greeting.GREETING)'`,
  );
}

async function venvs(host: TestHost): Promise<string[]> {
  const out = await onHost(host, `sudo -n ls -1 ${SHARED}`);
  return out.split("\n").filter((n) => n.startsWith("venv-")).sort();
}

async function liveVenv(host: TestHost): Promise<string> {
  return (await onHost(host, "sudo -n readlink /home/app/apps/hello/venv")).split("/").pop()!;
}

const pyproject = (index: string) =>
  `[tool.poetry]
name = "hello"
version = "0.1.0"
description = "djaploy e2e: a Poetry project"
authors = ["djaploy e2e <e2e@djaploy.test>"]

[tool.poetry.dependencies]
python = "^3.11"
djt-greeting = "2.0"

[[tool.poetry.source]]
name = "djt"
url = "${index}"
default = true

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
`;

/** poetry.lock, written by Debian's Poetry 1.3 (what the hosts run) against the test's index. */
async function poetryLock(index: PackageIndex, dir: string): Promise<string> {
  // Poetry's home, config and cache outside the project (which is committed next).
  const home = await Deno.makeTempDir({ prefix: "djaploy-poetry-" });
  const r = await run("/usr/bin/poetry", ["lock", "--no-interaction"], {
    cwd: dir,
    env: {
      PATH: "/usr/bin:/bin",
      HOME: home,
      POETRY_CACHE_DIR: join(home, "cache"),
      POETRY_VIRTUALENVS_CREATE: "false",
      POETRY_HTTP_BASIC_DJT_USERNAME: index.user,
      POETRY_HTTP_BASIC_DJT_PASSWORD: index.password,
    },
    timeoutMs: 120_000,
  }).finally(() => Deno.remove(home, { recursive: true }));
  if (r.code !== 0) {
    throw new Error(
      `poetry lock failed (Debian's python3-poetry on the controller: scripts/testhosts.sh deps): ${r.output}`,
    );
  }
  return await Deno.readTextFile(join(dir, "poetry.lock"));
}

const UV_PYPROJECT = `[project]
name = "hello"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["djt-greeting==1.0"]
`;

const uvLock = (index: string) =>
  `version = 1
requires-python = ">=3.11"

[[package]]
name = "djt-greeting"
version = "1.0"
source = { registry = "${index}" }

[[package]]
name = "hello"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "djt-greeting" }]
`;

e2eTest(
  "dependencies from a real package index: pip, then Poetry, then uv (a STAND-IN uv wheel, not the real uv) installed by configure; old venvs pruned",
  async () => {
    log(
      "djaploy e2e: package_index_test installs a STAND-IN for uv (tests/fixtures/index/uv-standin): " +
        "the real uv cannot be downloaded here; this proves djaploy's uv install path, not uv",
    );
    const wheelDir = await Deno.makeTempDir({ prefix: "djaploy-index-" });
    try {
      const wheels = await buildWheels(
        ["djt-greeting-1.0", "djt-greeting-2.0", "uv-standin"],
        wheelDir,
      );
      assert.equal(wheels.length, 3, wheels.join(", "));
      const index = await servePackageIndex(wheels);
      try {
        await withHosts(["web-1"], (hosts) => scenario(hosts[0], index));
      } finally {
        await index.close();
      }
    } finally {
      await Deno.remove(wheelDir, { recursive: true });
    }
  },
);

async function scenario(host: TestHost, index: PackageIndex): Promise<void> {
  const env = { DJT_INDEX_URL: index.urlWithCredentials(host) };
  const deps = (extra: string) =>
    `system_site_packages = true\nindex_url = "env:DJT_INDEX_URL"\n${extra}`;
  const fetched = (file: string) => index.requests.filter((r) => r === `GET /files/${file} 200`);

  // 1. pip, a pinned requirements.txt.
  const project = await makeProject({
    hosts: [host],
    dependencies: deps('manager = "pip"'),
    files: { "requirements.txt": "djt-greeting==1.0\n" },
  });
  const configured = await djaploy(project, ["configure", "--env", "test", "-v"], { env });
  ok(configured, "configure (pip)");
  const deployed = await djaploy(project, ["deploy", "--env", "test", "-v"], { env });
  ok(deployed, "deploy (pip)");
  assert.equal((await httpGet(`http://${host.ip}/health/`)).body, "ok");
  assert.equal(await greeting(host), "Hello from the package index, version 1.0");
  assert.equal(fetched("djt_greeting-1.0-py3-none-any.whl").length, 1, index.requests.join("\n"));
  for (const r of [configured, deployed]) {
    assert.ok(!r.output.includes(index.password), "the index password is never printed");
  }
  assert.equal(
    await onHost(host, "sudo -n stat -c '%a %U:%G' /etc/djaploy/apps/hello/dependencies.env"),
    "640 root:app",
    "the index credentials are root's file, readable by the app user only",
  );
  const pipVenv = await liveVenv(host);

  // 2. Poetry (Debian's python3-poetry, installed by configure), poetry.lock from Poetry itself.
  await project.remove("requirements.txt");
  await project.write("pyproject.toml", pyproject(index.url(host)));
  await project.write("poetry.lock", await poetryLock(index, project.dir));
  await project.write(
    "infra/djaploy.toml",
    (await Deno.readTextFile(join(project.infraDir, "djaploy.toml")))
      .replace('manager = "pip"', 'manager = "poetry"'),
  );
  await project.commit("Poetry");
  ok(await djaploy(project, ["configure", "--env", "test"], { env }), "configure (poetry)");
  assert.match(await onHost(host, "poetry --version"), /Poetry \(version 1\.3\./);
  // poetry lock fetched it here already; the host fetches it once more.
  const v2Before = fetched("djt_greeting-2.0-py3-none-any.whl").length;
  const poetryDeploy = await djaploy(project, ["deploy", "--env", "test", "-v"], { env });
  ok(poetryDeploy, "deploy (poetry)");
  assert.match(poetryDeploy.output, /installing with poetry/);
  assert.equal(await greeting(host), "Hello from the package index, version 2.0");
  assert.equal(
    fetched("djt_greeting-2.0-py3-none-any.whl").length,
    v2Before + 1,
    index.requests.join("\n"),
  );
  assert.ok(!poetryDeploy.output.includes(index.password));
  const poetryVenv = await liveVenv(host);
  assert.deepEqual(await venvs(host), [pipVenv, poetryVenv].sort(), "live and previous are kept");

  // 3. uv: a STAND-IN wheel from the index, installed by configure into /opt/djaploy/tools.
  await project.remove("poetry.lock");
  await project.write("pyproject.toml", UV_PYPROJECT);
  await project.write("uv.lock", uvLock(index.url(host)));
  await project.write(
    "infra/djaploy.toml",
    (await Deno.readTextFile(join(project.infraDir, "djaploy.toml")))
      .replace('manager = "poetry"', 'manager = "uv"\nuv_version = "0.4.30"'),
  );
  await project.commit("uv");
  const uvConfigure = await djaploy(project, ["configure", "--env", "test", "-v"], { env });
  ok(uvConfigure, "configure (uv)");
  assert.match(uvConfigure.output, /installed uv 0\.4\.30/);
  assert.equal(fetched("uv-0.4.30-py3-none-any.whl").length, 1, index.requests.join("\n"));
  const tool = "/opt/djaploy/tools/uv-0.4.30";
  assert.equal(await onHost(host, `stat -c '%U %a' ${tool} ${tool}/bin/uv`), "root 755\nroot 755");
  assert.notEqual(
    (await host.ssh(`sudo -n -u app test -w ${tool}/bin`)).code,
    0,
    "the app user runs uv but cannot change it",
  );
  assert.match(await onHost(host, `sudo -n -u app ${tool}/bin/uv --version`), /stand-in/);
  const again = await djaploy(project, ["configure", "--env", "test", "-v"], { env });
  ok(again, "second configure (uv)");
  assert.doesNotMatch(again.output, /installed uv/, "uv is installed once, then reused");
  assert.equal(fetched("uv-0.4.30-py3-none-any.whl").length, 1);

  const uvDeploy = await djaploy(project, ["deploy", "--env", "test", "-v"], { env });
  ok(uvDeploy, "deploy (uv)");
  assert.match(uvDeploy.output, /installing with uv/);
  assert.ok(!uvDeploy.output.includes(index.password));
  assert.equal((await httpGet(`http://${host.ip}/health/`)).body, "ok");
  const uvVenv = await liveVenv(host);
  const record = JSON.parse(
    await onHost(host, `sudo -n cat ${SHARED}/${uvVenv}/djaploy-uv-standin.json`),
  );
  assert.deepEqual(record.argv, ["sync", "--frozen", "--no-dev", "--no-install-project"]);
  assert.equal(record.cwd, "/home/app/apps/hello/code");
  assert.equal(record.UV_PROJECT_ENVIRONMENT, `${SHARED}/${uvVenv}`);
  assert.equal(record["UV_INDEX_URL set"], true, "the index came from dependencies.env");
  assert.equal(await greeting(host), "Hello from the package index, version 1.0");

  // The credentials travelled in root's file, never on a command line: sudo logs every
  // command it runs (argv included) to the journal, and the password is not there. (Both
  // are searched here, on the controller: a grep on the host would put it on a command line.)
  const depsEnv = await onHost(host, "sudo -n cat /etc/djaploy/apps/hello/dependencies.env");
  assert.equal(depsEnv.split(index.password).length - 1, 2, "PIP_INDEX_URL and UV_INDEX_URL");
  const journal = await onHost(host, "sudo -n journalctl --no-pager");
  assert.match(journal, /COMMAND=.*dependencies\.env/, "sudo logged djaploy's commands");
  assert.ok(!journal.includes(index.password), "the index password is in no logged command");

  // The pip deploy's venv is neither live nor previous: pruned after the switch, by the app user.
  assert.match(uvDeploy.output, new RegExp(`removed 1 unused virtualenv: ${pipVenv}`));
  assert.deepEqual(await venvs(host), [poetryVenv, uvVenv].sort());

  // 4. On to zero_downtime with a new lock (djt-greeting 2.0): once traffic moved, the
  // Poetry venv (no kept release's) goes; the uv one (live until now) stays.
  await project.write(
    "uv.lock",
    uvLock(index.url(host)).replace('version = "1.0"', 'version = "2.0"'),
  );
  await project.write("pyproject.toml", UV_PYPROJECT.replace("==1.0", "==2.0"));
  await project.write(
    "infra/djaploy.toml",
    (await Deno.readTextFile(join(project.infraDir, "djaploy.toml")))
      .replace('deployment_strategy = "in_place"', 'deployment_strategy = "zero_downtime"'),
  );
  await project.commit("zero_downtime, djt-greeting 2.0");
  const zd = await djaploy(project, ["deploy", "--env", "test", "-v"], { env });
  ok(zd, "deploy (zero_downtime)");
  assert.equal((await httpGet(`http://${host.ip}/health/`)).body, "ok");
  const state = JSON.parse(
    await onHost(host, "sudo -n cat /var/lib/djaploy/apps/hello/state.json"),
  );
  const zdVenv = state.venv.split("/").pop();
  assert.ok(![poetryVenv, uvVenv].includes(zdVenv), "a new lock, a new venv");
  assert.equal(
    await onHost(
      host,
      `sudo -n -u app ${state.venv}/bin/python -c 'import djt_greeting; print(djt_greeting.VERSION)'`,
    ),
    "2.0",
  );
  assert.match(zd.output, new RegExp(`removed 1 unused virtualenv: ${poetryVenv}`));
  assert.deepEqual(await venvs(host), [uvVenv, zdVenv].sort());
}
