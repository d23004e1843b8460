/**
 * [dependencies]: the package index reaches the installers through a
 * root-owned file the app user reads (never argv), configure installs uv (or
 * a pinned Poetry) once into /opt/djaploy/tools, and a deploy runs it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, UserError } from "../lib/errors.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { indexFiles, installerCommand, managerTool } from "../lib/deploy/dependencies.ts";
import { INSTALL_TOOL_SH } from "../templates/scripts.ts";
import {
  factsStdout,
  loadTestProject,
  type ProbeAnswer,
  withTempDir,
  writeFiles,
  writtenFiles,
} from "./helpers/fixtures.ts";
import {
  configuredHostAnswers,
  configurePlan,
  deployPlan,
  newRelease,
  runRecorded,
} from "./helpers/plans.ts";
import type { LoadedProject } from "./helpers/fixtures.ts";

const INDEX = "http://djt:pa55-index-w0rd@10.231.11.1:8123/simple/";
const EXTRA = "https://extra.example.test/simple/";
const DEPS_ENV = "/etc/djaploy/apps/hello/dependencies.env";
const NETRC = "/etc/djaploy/apps/hello/netrc";
const UV_DIR = "/opt/djaploy/tools/uv-0.4.30";

const UV_TOML = `project_name = "hello"

[dependencies]
manager = "uv"
uv_version = "0.4.30"
index_url = "env:DJT_TEST_INDEX_URL"
extra_index_urls = ["${EXTRA}"]
`;

async function withUvProject(fn: (loaded: LoadedProject, dir: string) => Promise<void>) {
  Deno.env.set("DJT_TEST_INDEX_URL", INDEX);
  try {
    await withTempDir(async (dir) => fn(await loadTestProject(dir, UV_TOML), dir));
  } finally {
    Deno.env.delete("DJT_TEST_INDEX_URL");
  }
}

async function configure(loaded: LoadedProject, answers: Record<string, ProbeAnswer>) {
  return await runRecorded({
    loaded,
    plan: await configurePlan(loaded.host, loaded.project.repo_dir),
    facts: factsStdout(answers),
    secrets: true,
  });
}

Deno.test("configure with manager uv: the index goes into root's dependencies.env, uv into its own tools venv, as root", async () => {
  await withUvProject(async (loaded) => {
    const r = await configure(loaded, {});
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    // Debian's python3-venv makes the tools venv; no Debian poetry, no system uv.
    assert.match(lines[2], /apt-get install .* python3-venv/);
    assert.doesNotMatch(lines[2], /poetry|python3-pip/);
    const install = `sudo -n -H -- sh -c 'set -e…' sh ${UV_DIR} uv 0.4.30 ${DEPS_ENV}`;
    assert.ok(lines.includes(install), lines.join("\n"));
    const cmd = r.exec.recorded.find((c) => c.command?.argv.includes(INSTALL_TOOL_SH))!.command!;
    assert.equal(cmd.as, "root");
    // The index file is written before the install that reads it.
    const writeDeps = lines.findIndex((l) => l.includes(` ${DEPS_ENV} root:app 0640 < [stdin]`));
    assert.ok(writeDeps >= 0 && writeDeps < lines.indexOf(install));

    const files = writtenFiles(r.exec.recorded);
    assert.equal(
      files.get(DEPS_ENV),
      "# Written by djaploy from [dependencies]. Do not edit: the next deploy rewrites it.\n" +
        `NETRC="${NETRC}"\n` +
        `PIP_EXTRA_INDEX_URL="${EXTRA}"\n` +
        `PIP_INDEX_URL="${INDEX}"\n` +
        // An http:// index, as configured: pip would ignore it otherwise.
        `PIP_TRUSTED_HOST="10.231.11.1:8123"\n` +
        `UV_EXTRA_INDEX_URL="${EXTRA}"\n` +
        `UV_INDEX_URL="${INDEX}"\n`,
    );
    assert.equal(files.get(NETRC), "machine 10.231.11.1 login djt password pa55-index-w0rd\n");
    // Over stdin, as Secrets: the password is on no command line and in no output.
    for (const path of [DEPS_ENV, NETRC]) {
      const write = r.exec.recorded.find((c) => c.command?.argv[4] === path)!.command!;
      assert.ok(write.stdin instanceof Secret, path);
    }
    const shown = lines.join("\n") + r.out + r.err +
      JSON.stringify(r.exec.recorded.map((c) => c.command?.argv));
    assert.ok(!shown.includes("pa55-index-w0rd"));
    assert.match(r.out, /installed uv 0\.4\.30/);
  });
});

Deno.test("configure: the index password alone is masked in the output, not only the whole URL", async () => {
  await withUvProject(async (loaded) => {
    const r = await runRecorded({
      loaded,
      plan: await configurePlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({}),
      secrets: true,
      // An installer that quotes the password by itself in its error.
      respond: (cmd) =>
        cmd.argv.includes(INSTALL_TOOL_SH)
          ? { code: 1, stderr: "401 for user djt with password pa55-index-w0rd\n" }
          : undefined,
    });
    assert.equal(r.result.ok, false);
    // What the summary prints: the error through the run's mask.
    const shown = r.ui.mask(String(r.result.error));
    assert.match(shown, /with password \[REDACTED\]/);
    assert.ok(!shown.includes("pa55-index-w0rd"));
  });
});

Deno.test("configure with manager uv: a tool already installed is reused, not installed again", async () => {
  await withUvProject(async (loaded) => {
    const answers = await configuredHostAnswers(loaded, undefined, { secrets: true });
    const r = await configure(loaded, { ...answers, "dependency-tools": { out: `${UV_DIR}\n` } });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines().slice(1), []);
  });
});

Deno.test("deploy with manager uv: `uv sync --frozen` runs from the tools venv, as the app user, with the index file", async () => {
  await withUvProject(async (loaded, dir) => {
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, {
      "uv.lock": "version = 1\n",
      "pyproject.toml": '[project]\nname = "hello"\n',
      "manage.py": "",
    });
    const release = newRelease(artifactDir);
    const answers = await configuredHostAnswers(loaded, undefined, { secrets: true });
    const plan = await deployPlan(loaded.host, loaded.project.repo_dir);
    const r = await runRecorded({
      loaded,
      plan,
      facts: factsStdout({ ...answers, "dependency-tools": { out: `${UV_DIR}\n` } }),
      release,
      secrets: true,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const build = r.exec.recorded.find((c) => c.command?.argv[2]?.startsWith("set -e\nvenv=$1"))!
      .command!;
    assert.equal(build.as, "app");
    const venv = build.argv[4];
    assert.match(venv, /^\/home\/app\/apps\/hello\/shared\/venv-[0-9a-f]{16}-py3\.11$/);
    assert.deepEqual(build.argv.slice(4), [
      venv,
      "python3.11",
      "uv",
      "0",
      "/home/app/apps/hello/code",
      `${UV_DIR}/bin/uv`,
      DEPS_ENV,
    ]);
    // The exact installer line of the script: `uv sync --frozen` into that venv.
    assert.match(
      build.argv[2],
      /\n {2}uv\) UV_PROJECT_ENVIRONMENT=\$venv "\$installer" sync --frozen --no-dev --no-install-project "\$@" ;;\n/,
    );
    assert.ok(!JSON.stringify(build.argv).includes("pa55-index-w0rd"));
  });
});

Deno.test("deploy with manager uv on a host configure has not prepared: says to configure, builds nothing", async () => {
  await withUvProject(async (loaded, dir) => {
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "uv.lock": "version = 1\n", "manage.py": "" });
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded, undefined, { secrets: true })),
      release: { name: "r", artifactDir, commit: "c", ref: "main", tree: "t" },
      secrets: true,
    });
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "dependencies");
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.equal(err.message, `Install uv on web1 first: ${UV_DIR} is not there`);
    assert.equal(
      err.hint,
      'Set [dependencies] manager = "uv" and run: djaploy configure --env test',
    );
  });
});

Deno.test("a pinned Poetry is a tool like uv; without a pin, Debian's poetry runs", async () => {
  await withTempDir(async (dir) => {
    const pinned = await loadTestProject(
      dir,
      'project_name = "hello"\n[dependencies]\nmanager = "poetry"\npoetry_version = "1.8.3"\n',
    );
    assert.deepEqual(managerTool(pinned.host, "poetry"), {
      name: "poetry",
      version: "1.8.3",
      dir: "/opt/djaploy/tools/poetry-1.8.3",
      bin: "/opt/djaploy/tools/poetry-1.8.3/bin/poetry",
    });
    const plan = await configurePlan(pinned.host, pinned.project.repo_dir);
    assert.ok(plan.packages.includes("python3-venv") && !plan.packages.includes("python3-poetry"));
  });
  await withTempDir(async (dir) => {
    const debian = await loadTestProject(
      dir,
      'project_name = "hello"\n[dependencies]\nmanager = "poetry"\n',
    );
    assert.equal(managerTool(debian.host, "poetry"), undefined);
    assert.equal(installerCommand(debian.host, "poetry"), "poetry");
    assert.equal(installerCommand(debian.host, "pip"), "");
    const plan = await configurePlan(debian.host, debian.project.repo_dir);
    assert.ok(plan.packages.includes("python3-poetry"));
  });
});

Deno.test("index_url: a URL holding credentials must be a secret reference", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () =>
        loadTestProject(
          dir,
          'project_name = "hello"\n[dependencies]\nindex_url = "https://me:tok3n@pkgs.example.test/simple/"\n',
        ),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /infra\/djaploy\.toml:3: dependencies\.index_url: must not hold credentials: put the URL in a secret reference \(env:NAME, file:PATH, op:\/\/\.\.\.\): got https:\/\/USER:\*\*\*@pkgs\.example\.test\/simple\//,
        );
        assert.ok(!err.message.includes("tok3n"));
        return true;
      },
    );
  });
});

Deno.test("indexFiles: pip and uv get the URLs, Poetry the credentials as netrc, once per machine", () => {
  const f = indexFiles(
    "http://a:b%40c@idx.test:81/simple/",
    ["http://a:b%40c@idx.test/other/"],
    "/n",
  );
  assert.equal(f.netrc, "machine idx.test login a password b@c\n");
  assert.equal(f.env.get("NETRC"), "/n");
  const plain = indexFiles(undefined, [], "/n");
  assert.deepEqual([...plain.env], []);
  assert.equal(plain.netrc, "");
});

Deno.test("configure: a secret reference that holds no URL is the user's error, its value unshown", async () => {
  await withUvProject(async (loaded) => {
    Deno.env.set("DJT_TEST_INDEX_URL", "not a url s3cr3t-value");
    const r = await configure(loaded, {});
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "package index");
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.equal(
      err.message,
      "Set env:DJT_TEST_INDEX_URL to the package index's http:// or https:// URL: " +
        "dependencies.index_url refers to it, and what it holds is no such URL",
    );
    assert.ok(!r.exec.lines().some((l) => l.includes("/opt/djaploy")), "no tool install");
    assert.ok(!(r.ui.mask(String(err)) + r.out + r.err).includes("s3cr3t-value"));
  });
});
