import assert from "node:assert/strict";
import { join } from "node:path";
import { buildArtifact } from "../lib/artifact.ts";
import { UsageError } from "../lib/errors.ts";
import { withTempDir } from "./helpers/fixtures.ts";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/** A repository whose project lives in app/ (as in a monorepo), with one commit. */
async function repo(dir: string): Promise<string> {
  const root = join(dir, "repo");
  const app = join(root, "app");
  await Deno.mkdir(join(app, "infra"), { recursive: true });
  await Deno.writeTextFile(join(app, "manage.py"), "print('v1')\n");
  await Deno.writeTextFile(join(app, "infra", "djaploy.toml"), 'project_name = "hello"\n');
  await Deno.writeTextFile(join(app, "notes.md"), "not shipped\n");
  await Deno.writeTextFile(join(app, ".gitattributes"), "notes.md export-ignore\n");
  await Deno.writeTextFile(join(app, ".gitignore"), "local.db\n");
  await Deno.writeTextFile(join(root, "outside.txt"), "another project\n");
  await git(root, "init", "-q", "-b", "main");
  await git(root, "config", "user.name", "t");
  await git(root, "config", "user.email", "t@t");
  await git(root, "add", "-A");
  await git(root, "commit", "-qm", "one");
  return app;
}

const request = (projectDir: string, cacheDir: string) => ({
  projectDir,
  cacheDir,
  appName: "hello",
  now: new Date("2026-11-26T07:01:02Z"),
});

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("artifact --latest: HEAD of the project's folder, export-ignore honoured", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    const a = await buildArtifact({ ...request(app, join(dir, "cache")), mode: "latest" });
    assert.equal(a.ref, "main");
    assert.equal(a.commit, await git(app, "rev-parse", "HEAD"));
    assert.equal(a.tree, await git(app, "rev-parse", "HEAD:app"));
    assert.match(a.name, /^20261126T070102Z-[0-9a-f]{7}$/);
    assert.deepEqual(await files(a.artifactDir), [
      ".gitattributes",
      ".gitignore",
      "infra",
      "manage.py",
    ]);
  });
});

Deno.test("artifact --local: uncommitted and untracked files, not ignored ones; the user's index untouched", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await Deno.writeTextFile(join(app, "manage.py"), "print('v2')\n");
    await Deno.writeTextFile(join(app, "new.py"), "x = 1\n");
    await Deno.writeTextFile(join(app, "local.db"), "ignored\n");
    const a = await buildArtifact({ ...request(app, join(dir, "cache")), mode: "local" });
    assert.equal(a.ref, "local");
    assert.equal(await Deno.readTextFile(join(a.artifactDir, "manage.py")), "print('v2')\n");
    assert.ok((await files(a.artifactDir)).includes("new.py"));
    assert.ok(!(await files(a.artifactDir)).includes("local.db"));
    assert.equal(
      await git(app, "status", "--porcelain"),
      "M app/manage.py\n?? app/new.py".replace("\n", "\n"),
    );
  });
});

Deno.test("artifact --release: a tag that does not exist is a usage error listing the tags", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await git(app, "tag", "v1.0.0");
    await assert.rejects(
      () => buildArtifact({ ...request(app, join(dir, "cache")), mode: "release", tag: "v2.0.0" }),
      (e: unknown) =>
        e instanceof UsageError && /"v2.0.0" does not exist/.test(e.message) &&
        /v1\.0\.0/.test(e.hint ?? ""),
    );
    const a = await buildArtifact({
      ...request(app, join(dir, "cache")),
      mode: "release",
      tag: "v1.0.0",
    });
    assert.equal(a.ref, "v1.0.0");
  });
});

Deno.test("artifact: the same tree is built once and reused; two runs building at once both succeed", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    const cache = join(dir, "cache");
    const [a, b] = await Promise.all([
      buildArtifact({ ...request(app, cache), mode: "latest" }),
      buildArtifact({ ...request(app, cache), mode: "latest" }),
    ]);
    assert.equal(a.artifactDir, b.artifactDir);
    const c = await buildArtifact({ ...request(app, cache), mode: "latest" });
    assert.equal(c.artifactDir, a.artifactDir);
    const left = (await files(join(cache, "artifacts"))).filter((n) =>
      n.includes(".tmp-") || n.endsWith(".tar")
    );
    assert.deepEqual(left, [], "no temporary files are left behind");
  });
});
