import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS, main } from "../cli.ts";
import { VERSION } from "../lib/version.ts";
import { withTempDir, writeFiles } from "./helpers/fixtures.ts";

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal: false,
  });
  return { code, out: out.join(""), err: err.join("") };
}

/** A minimal project: infra/djaploy.toml and one environment, "test", with one host. */
async function withProject(fn: (config: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "infra/djaploy.toml": 'project_name = "hello"\n',
      "infra/inventory/test.toml": '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
    });
    await fn(join(dir, "infra", "djaploy.toml"));
  });
}

Deno.test("cli: --help lists the commands and exits 0", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.equal(r.err, "");
  assert.match(r.out, /^Usage: djaploy <command> \[options\]$/m);
  for (const name of ["verify", "configure", "deploy"]) {
    assert.match(r.out, new RegExp(`^  ${name} +\\S`, "m"), `help lacks ${name}`);
  }
  assert.equal((await run(["-h"])).out, r.out);
  assert.equal((await run(["help"])).code, 0);
});

Deno.test("cli: no command prints the help and exits 2", async () => {
  const r = await run([]);
  assert.equal(r.code, 2);
  assert.match(r.out, /Commands:/);
});

Deno.test("cli: --version prints the version", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.out, `djaploy ${VERSION}\n`);
  }
});

Deno.test("cli: an unknown command exits 2 with the commands there are", async () => {
  const r = await run(["deplyo"]);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.equal(
    r.err,
    `error: Unknown command "deplyo" (did you mean "deploy"?): try one of ${
      COMMANDS.map((c) => c.def.name).join(", ")
    }\nhint: See: djaploy --help\n`,
  );
});

Deno.test("cli: a command's --help shows its options and exits 0", async () => {
  const r = await run(["deploy", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: djaploy deploy \[options\]/);
  assert.match(r.out, /--release TAG/);
  const alias = await run(["configureserver", "-h"]);
  assert.equal(alias.code, 0);
  assert.match(alias.out, /^Usage: djaploy configure \[options\]/);
});

Deno.test("cli: deploy with two artifact sources exits 2", async () => {
  const r = await run(["deploy", "--latest", "--local"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    "error: Choose one of --latest, --local and --release: got --latest and --local\n",
  );
  const three = await run(["deploy", "--local", "--release", "v1"]);
  assert.equal(three.code, 2);
  assert.match(
    three.err,
    /Choose one of --latest, --local and --release: got --local and --release/,
  );
});

Deno.test("cli: an unknown flag exits 2 with a suggestion", async () => {
  const r = await run(["deploy", "--dryrun"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    'error: Unknown option --dryrun for "djaploy deploy" (did you mean --dry-run?)\n' +
      "hint: See: djaploy deploy --help\n",
  );
});

Deno.test("cli: --verbose with --quiet exits 2", async () => {
  const r = await run(["configure", "-v", "-q"]);
  assert.equal(r.code, 2);
  assert.equal(r.err, "error: Choose one of --verbose and --quiet\n");
});

Deno.test("cli: deploy without --env exits 2 and asks for it", async () => {
  await withProject(async (config) => {
    const r = await run(["deploy", "--config", config]);
    assert.equal(r.code, 2);
    assert.equal(r.err, "error: djaploy deploy needs --env NAME: which environment to act on\n");
    const c = await run(["configure", "--config", config]);
    assert.equal(c.code, 2);
    assert.match(c.err, /djaploy configure needs --env NAME/);
  });
});

Deno.test("cli: deploy to an environment that does not exist exits 2 and names the ones there are", async () => {
  await withProject(async (config) => {
    const r = await run(["deploy", "--config", config, "--env", "prod"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: Unknown environment "prod": .*inventory\/ has "test"\n$/);
  });
});

Deno.test("cli: a config file that does not exist exits 2", async () => {
  await withTempDir(async (dir) => {
    const r = await run(["deploy", "--config", join(dir, "nope.toml"), "--env", "test"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: Cannot read .*nope\.toml: no such file\n$/);
  });
});

Deno.test("cli: every flag the strategies document is accepted by deploy --help", async () => {
  const r = await run(["deploy", "--help"]);
  assert.equal(r.code, 0);
  for (
    const flag of ["--activate", "--batch-size", "--force", "--lock-wait", "--dry-run", "--release"]
  ) {
    assert.ok(r.out.includes(flag), `deploy --help lacks ${flag}`);
  }
});
