/**
 * End to end, djaploy as it is distributed: the one-file bundle
 * (dist/djaploy.js, built into a temp folder away from the sources) and the
 * sources fetched over HTTP (`deno run http://.../cli.ts`) configure, dry-run
 * and deploy a real host. Anything that only works from the source tree
 * (templates read from disk, an import map) fails here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  djaploy,
  DJAPLOY_PERMISSIONS,
  type DjaployResult,
  e2eTest,
  httpGet,
  makeProject,
  TEST_SECRET,
  withHosts,
} from "./harness.ts";
import { REPO } from "./harness/environment.ts";
import { run } from "./harness/run.ts";
import { serveDir } from "../helpers/serve_dir.ts";

function ok(r: { code: number; output: string }, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
  assert.ok(!r.output.includes(TEST_SECRET), `${what} printed the secret`);
}

/** Runs `fn` with the harness running `bin` instead of the sources (DJAPLOY_E2E_BIN). */
async function withBin<T>(bin: string, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("DJAPLOY_E2E_BIN");
  Deno.env.set("DJAPLOY_E2E_BIN", bin);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("DJAPLOY_E2E_BIN");
    else Deno.env.set("DJAPLOY_E2E_BIN", before);
  }
}

e2eTest("the bundle (dist/djaploy.js) configures, dry-runs, deploys and runs manage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "djaploy-bundle-" });
  try {
    const bundle = join(dir, "djaploy.js");
    const built = await run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--output",
      bundle,
      "cli.ts",
    ], { cwd: REPO });
    assert.equal(built.code, 0, built.output);
    await withBin(bundle, () =>
      withHosts(["web-1"], async ([host]) => {
        const project = await makeProject({ hosts: [host] });
        ok(await djaploy(project, ["configure", "--env", "test"]), "configure (bundle)");
        const dry = await djaploy(project, ["deploy", "--env", "test", "--dry-run"]);
        ok(dry, "deploy --dry-run (bundle)");
        assert.match(dry.output, /a real run would send \d+ commands/);
        assert.match(dry.output, /systemctl restart hello/);
        assert.notEqual((await httpGet(`http://${host.ip}/`)).status, 200, "nothing deployed");
        ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy (bundle)");
        const page = await httpGet(`http://${host.ip}/`);
        assert.equal(page.status, 200);
        assert.match(page.body, /Hello from djaploy!/);
        const manage = await djaploy(project, ["manage", "--env", "test", "--", "showmigrations"]);
        ok(manage, "manage (bundle)");
        assert.match(manage.stdout, /\[X\] 0001_initial/);
      }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

e2eTest(
  "deno run http://127.0.0.1:PORT/cli.ts: configure and a dry-run deploy, no import map",
  async () => {
    const served = serveDir(REPO);
    try {
      await withHosts(["web-1"], async ([host]) => {
        const project = await makeProject({ hosts: [host] });
        const fromUrl = async (args: string[]): Promise<DjaployResult> =>
          await run(Deno.execPath(), [
            "run",
            "--quiet",
            "--no-config",
            `--allow-import=127.0.0.1:${served.port}`,
            ...DJAPLOY_PERMISSIONS,
            `${served.origin}/cli.ts`,
            ...args,
          ], {
            cwd: project.dir,
            env: { ...Deno.env.toObject(), HELLO_SECRET_KEY: TEST_SECRET, NO_COLOR: "1" },
          });
        const help = await fromUrl(["--help"]);
        ok(help, "--help from a URL");
        assert.match(help.stdout, /^Usage: djaploy <command> \[options\]$/m);
        ok(await fromUrl(["configure", "--env", "test"]), "configure from a URL");
        const dry = await fromUrl(["deploy", "--env", "test", "--dry-run"]);
        ok(dry, "deploy --dry-run from a URL");
        assert.match(dry.output, /a real run would send \d+ commands/);
        assert.match(dry.output, /rsync .*-> \/home\/app\/apps\/hello\/code\//);
        assert.ok(served.requested.includes("/lib/commands/deploy.ts"), "sources came over HTTP");
      });
    } finally {
      await served.close();
    }
  },
);
