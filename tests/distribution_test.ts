/**
 * How djaploy is distributed, without test servers: the one-file bundle runs
 * on its own, the sources run from a URL (no import map), scripts/compile.sh
 * bakes in scoped permissions and fails clearly without the Deno runtime
 * download, and the release workflow builds what compile.sh builds.
 * tests/e2e/distribution_test.ts deploys with the bundle and from a URL.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../lib/version.ts";
import { serveDir } from "./helpers/serve_dir.ts";
import { withTempDir } from "./helpers/fixtures.ts";
import { TASK_PERMISSIONS, TASK_V8_FLAGS } from "./helpers/task_flags.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const DENO = Deno.execPath();

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  program: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Out> {
  const out = await new Deno.Command(program, {
    args,
    cwd: opts.cwd,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function sources(): Promise<string[]> {
  const files = [join(REPO, "cli.ts"), join(REPO, "mod.ts")];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) files.push(path);
    }
  };
  for (const dir of ["lib", "modules", "templates"]) await walk(join(REPO, dir));
  return files;
}

Deno.test("distribution: the sources import only relative, node: and npm: specifiers (no import map needed)", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  const mapped = new Map(Object.entries(config.imports ?? {}) as [string, string][]);
  const bad: string[] = [];
  for (const file of await sources()) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)) {
      const spec = m[1];
      if (/^(\.\.?\/|node:)/.test(spec)) continue;
      if (spec.startsWith("npm:")) {
        // The same package and version as deno.json maps its bare name to, if it does.
        const name = spec.slice(4).replace(/@[^@/]*$/, "");
        const inMap = mapped.get(name);
        if (inMap && inMap !== spec) {
          bad.push(`${relative(REPO, file)}: ${spec} but deno.json maps ${name} to ${inMap}`);
        }
        continue;
      }
      bad.push(`${relative(REPO, file)}: ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("distribution: the bundle is one file that runs on its own: --help, --version, a usage error", async () => {
  await withTempDir(async (dir) => {
    const bundle = join(dir, "djaploy.js");
    const built = await run(DENO, ["bundle", "--quiet", "--output", bundle, "cli.ts"], {
      cwd: REPO,
    });
    assert.equal(built.code, 0, built.stderr);
    // The task's V8 flags too: Deno stops at once on a flag V8 does not know.
    const perms = [...TASK_PERMISSIONS, ...TASK_V8_FLAGS];
    // From a folder with no deno.json and nothing of the repository next to it.
    const help = await run(DENO, ["run", "--no-config", ...perms, bundle, "--help"], { cwd: dir });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: djaploy <command> \[options\]$/m);
    assert.match(help.stdout, /^ {2}manage +/m);
    const version = await run(DENO, ["run", "--no-config", ...perms, bundle, "--version"], {
      cwd: dir,
    });
    assert.equal(version.stdout, `djaploy ${VERSION}\n`);
    const verify = await run(DENO, ["run", "--no-config", ...perms, bundle, "verify"], {
      cwd: dir,
    });
    assert.equal(verify.code, 2, verify.stderr);
    assert.match(verify.stderr, /infra\/djaploy\.toml/);
    assert.doesNotMatch(verify.stderr, / {4}at /, "a user error, not a stack");
  });
});

Deno.test("distribution: deno run http://127.0.0.1:PORT/cli.ts --help works without the repository's config", async () => {
  const served = serveDir(REPO);
  try {
    await withTempDir(async (dir) => {
      const r = await run(DENO, [
        "run",
        "--quiet",
        "--no-config",
        `--allow-import=127.0.0.1:${served.port}`,
        ...TASK_PERMISSIONS,
        `${served.origin}/cli.ts`,
        "--help",
      ], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: djaploy <command> \[options\]$/m);
      assert.ok(served.requested.includes("/lib/config/load.ts"), "the sources came over HTTP");
    });
  } finally {
    await served.close();
  }
});

Deno.test("distribution: compile.sh bakes in the djaploy task's permissions and V8 flags, never -A, for four targets", async () => {
  const r = await run("bash", [join(REPO, "scripts/compile.sh"), "--print"], {
    env: { PATH: Deno.env.get("PATH") ?? "" },
  });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  const targets = lines.map((l) => /--target (\S+)/.exec(l)?.[1]);
  assert.deepEqual(targets, [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
  ]);
  assert.deepEqual(TASK_V8_FLAGS, ["--v8-flags=--no-memory-reducer,--max-opt=1,--single-threaded"]);
  for (const line of lines) {
    const words = line.split(" ");
    assert.deepEqual(words.filter((w) => w.startsWith("--allow-")), TASK_PERMISSIONS);
    assert.deepEqual(words.filter((w) => w.startsWith("--v8-flags=")), TASK_V8_FLAGS);
    assert.ok(!words.includes("-A") && !words.includes("--allow-all"), line);
    assert.match(line, /--allow-run=ssh,rsync,git,/);
    assert.match(
      line,
      new RegExp(`--output dist/bin/djaploy-${VERSION.replaceAll(".", "\\.")}-\\S+ cli\\.ts$`),
    );
  }
  const unknown = await run("bash", [
    join(REPO, "scripts/compile.sh"),
    "--print",
    "sparc-sun-solaris",
  ]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /unknown target "sparc-sun-solaris": choose from x86_64-unknown-linux-gnu/,
  );
});

Deno.test("distribution: compile.sh says clearly when the Deno runtime cannot be downloaded", async () => {
  // A proxy that refuses connections: the runtime download fails at once,
  // here and on a machine that could reach dl.deno.land.
  // A fresh DENO_DIR: no runtime cached by an earlier successful build. The
  // npm registry stays reachable (NO_PROXY): only the runtime download fails.
  const denoDir = await Deno.makeTempDir({ prefix: "djaploy-denodir-" });
  const registry = new URL(Deno.env.get("NPM_CONFIG_REGISTRY") ?? "https://registry.npmjs.org/");
  const r = await run("bash", [join(REPO, "scripts/compile.sh"), "x86_64-unknown-linux-gnu"], {
    env: {
      ...Deno.env.toObject(),
      DENO_DIR: denoDir,
      HTTPS_PROXY: "http://127.0.0.1:9",
      https_proxy: "http://127.0.0.1:9",
      NO_PROXY: registry.hostname,
      no_proxy: registry.hostname,
    },
  }).finally(() => Deno.remove(denoDir, { recursive: true }));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /^compile\.sh: cannot download the Deno runtime for x86_64-unknown-linux-gnu \(deno compile fetches denort-x86_64-unknown-linux-gnu\.zip from dl\.deno\.land\): .+$/m,
  );
  assert.match(r.stderr, /^hint: build on a machine that reaches dl\.deno\.land/m);
  assert.doesNotMatch(r.stderr, /Stack backtrace/);
});

Deno.test("distribution: README's deno run and deno install lines carry the djaploy task's V8 flags", async () => {
  const text = await Deno.readTextFile(join(REPO, "README.md"));
  const commands = text.split(/\n(?! {2})/).filter((c) =>
    /^(deno run --quiet|deno install)/.test(c)
  );
  assert.equal(commands.length, 2, "README: one deno run and one deno install line");
  for (const command of commands) {
    for (const flag of TASK_V8_FLAGS) {
      assert.ok(command.includes(flag), `${flag} missing from: ${command}`);
    }
  }
});

Deno.test("distribution: the release workflow builds on tags with compile.sh and attaches checksums", async () => {
  const text = await Deno.readTextFile(join(REPO, ".github/workflows/release.yml"));
  assert.match(text, /^ {4}tags: \["v\*"\]$/m);
  assert.match(text, /bash scripts\/compile\.sh/);
  assert.match(text, /deno task bundle/);
  assert.match(text, /SHA256SUMS/);
  assert.match(text, /gh release (create|upload) "\$GITHUB_REF_NAME" dist\/bin\/\*/);
  assert.doesNotMatch(text, /\s-A\s|--allow-all/);
  const deno = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  assert.equal(deno.tasks.compile, "bash scripts/compile.sh");
  // The YAML parses, where Python's yaml module is there to say so.
  const py = await run("python3", [
    "-c",
    "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(' '.join(d['jobs']))",
    join(REPO, ".github/workflows/release.yml"),
  ]).catch(() => undefined);
  if (py && !/No module named/.test(py.stderr)) {
    assert.equal(py.code, 0, py.stderr);
    assert.equal(py.stdout.trim(), "build smoke release");
  }
});
