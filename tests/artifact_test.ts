import assert from "node:assert/strict";
import { join } from "node:path";
import { buildArtifact } from "../lib/deploy/artifact.ts";
import { ConfigError, UsageError } from "../lib/errors.ts";
import { IncludeError } from "../lib/deploy/artifact_include.ts";
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

// [artifact] include: build outputs of [prepare] join git's files.

/** A gitignored build output in app/frontend/dist, as a [prepare] command leaves it. */
async function buildOutput(app: string, css = "body { color: red }\n"): Promise<void> {
  await Deno.writeTextFile(join(app, ".gitignore"), "local.db\nfrontend/dist/\n");
  await Deno.mkdir(join(app, "frontend", "dist", "js"), { recursive: true });
  await Deno.writeTextFile(join(app, "frontend", "dist", "app.css"), css);
  await Deno.writeTextFile(join(app, "frontend", "dist", "js", "run.sh"), "#!/bin/sh\n");
  await Deno.chmod(join(app, "frontend", "dist", "js", "run.sh"), 0o755);
  await Deno.symlink("../app.css", join(app, "frontend", "dist", "js", "style.css"));
}

async function objectCount(app: string): Promise<string> {
  return await git(app, "count-objects", "-v");
}

Deno.test("artifact include: a gitignored build output is shipped, in the tree hash, and the repository gains nothing", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await buildOutput(app);
    await git(app, "commit", "-qam", "ignore the build output");
    const objects = await objectCount(app);
    const cache = join(dir, "cache");
    const a = await buildArtifact({
      ...request(app, cache),
      mode: "latest",
      include: ["frontend/dist"],
    });
    assert.equal(
      await Deno.readTextFile(join(a.artifactDir, "frontend", "dist", "app.css")),
      "body { color: red }\n",
    );
    const st = await Deno.stat(join(a.artifactDir, "frontend", "dist", "js", "run.sh"));
    assert.ok((st.mode ?? 0) & 0o100, "the executable bit is kept");
    assert.equal(
      await Deno.readLink(join(a.artifactDir, "frontend", "dist", "js", "style.css")),
      "../app.css",
      "a symlink inside the project is shipped as a link",
    );
    assert.ok((await files(a.artifactDir)).includes("manage.py"), "git's files are there too");
    assert.equal(a.gitTree, await git(app, "rev-parse", "HEAD:app"));
    assert.notEqual(a.tree, a.gitTree, "the build output is part of the artifact's tree");
    assert.deepEqual(a.missing, []);
    assert.equal(await objectCount(app), objects, "no object was written to the repository");
    assert.equal(await git(app, "status", "--porcelain"), "");

    const same = await buildArtifact({
      ...request(app, cache),
      mode: "latest",
      include: ["frontend/dist"],
    });
    assert.equal(same.tree, a.tree, "an unchanged build output is the same release");
    assert.equal(same.artifactDir, a.artifactDir);

    await Deno.writeTextFile(join(app, "frontend", "dist", "app.css"), "body { color: blue }\n");
    const changed = await buildArtifact({
      ...request(app, cache),
      mode: "latest",
      include: ["frontend/dist"],
    });
    assert.notEqual(changed.tree, a.tree, "a changed build output is a change");
    assert.equal(changed.gitTree, a.gitTree);
    assert.equal(
      await Deno.readTextFile(join(changed.artifactDir, "frontend", "dist", "app.css")),
      "body { color: blue }\n",
    );
    const left = (await files(join(cache, "artifacts"))).filter((n) => n.includes(".tmp-"));
    assert.deepEqual(left, [], "the scratch objects are removed");

    // The artifact's tree is the tree git makes of the same files.
    await git(app, "add", "-f", "frontend/dist");
    await git(app, "commit", "-qm", "the build output, committed");
    assert.equal(await git(app, "rev-parse", "HEAD:app"), changed.tree);
  });
});

Deno.test("artifact include: what is on disk replaces what git has at the path; --local and --release include it too", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await Deno.mkdir(join(app, "static"));
    await Deno.writeTextFile(join(app, "static", "old.css"), "old\n");
    await Deno.writeTextFile(join(app, "static", "kept.css"), "committed\n");
    await git(app, "add", "-A");
    await git(app, "commit", "-qm", "static");
    await git(app, "tag", "v1.0.0");
    await Deno.remove(join(app, "static", "old.css"));
    await Deno.writeTextFile(join(app, "static", "kept.css"), "rebuilt\n");
    await Deno.writeTextFile(join(app, "static", "new.css"), "new\n");
    const cache = join(dir, "cache");
    for (const mode of ["latest", "local", "release"] as const) {
      const a = await buildArtifact({
        ...request(app, cache),
        mode,
        tag: mode === "release" ? "v1.0.0" : undefined,
        include: ["static"],
      });
      assert.deepEqual(await files(join(a.artifactDir, "static")), ["kept.css", "new.css"], mode);
      assert.equal(await Deno.readTextFile(join(a.artifactDir, "static", "kept.css")), "rebuilt\n");
    }
  });
});

Deno.test("artifact include: a link of git's where the included folder goes is replaced, never written through", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await Deno.mkdir(join(dir, "elsewhere"));
    await Deno.symlink("../../elsewhere", join(app, "out"));
    await git(app, "add", "-A");
    await git(app, "commit", "-qm", "out is a link");
    await git(app, "tag", "v1.0.0");
    await Deno.remove(join(app, "out"));
    await Deno.mkdir(join(app, "out", "dist"), { recursive: true });
    await Deno.writeTextFile(join(app, "out", "dist", "app.css"), "built\n");
    const a = await buildArtifact({
      ...request(app, join(dir, "cache")),
      mode: "release",
      tag: "v1.0.0",
      include: ["out/dist"],
    });
    assert.ok((await Deno.lstat(join(a.artifactDir, "out"))).isDirectory);
    assert.equal(await Deno.readTextFile(join(a.artifactDir, "out", "dist", "app.css")), "built\n");
    assert.deepEqual(
      await files(join(dir, "elsewhere")),
      [],
      "nothing was written through the link",
    );
  });
});

Deno.test("artifact include: without include the artifact is git's tree, as before", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await buildOutput(app);
    const a = await buildArtifact({ ...request(app, join(dir, "cache")), mode: "latest" });
    assert.equal(a.tree, a.gitTree);
    assert.ok(!(await files(a.artifactDir)).includes("frontend"));
  });
});

/** Rejects with an IncludeError for the include list's entry `index`, its problem matching `problem`. */
async function refused(
  app: string,
  cache: string,
  include: string[],
  index: number,
  problem: RegExp,
): Promise<void> {
  await assert.rejects(
    () => buildArtifact({ ...request(app, cache), mode: "latest", include }),
    (e: unknown) => {
      assert.ok(e instanceof IncludeError, String(e));
      assert.ok(e instanceof ConfigError, "a config error: exit code 2");
      assert.equal(e.index, index);
      assert.match(e.problem, problem);
      assert.match(e.message, new RegExp(`^artifact\\.include\\[${index}\\]: `));
      return true;
    },
  );
}

Deno.test("artifact include: a missing path is a config error naming it; a dry run lists it instead; overlapping paths are fine", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await buildOutput(app);
    const cache = join(dir, "cache");
    await refused(
      app,
      cache,
      ["frontend/dist", "frontend/missing"],
      1,
      /must name a path that exists after \[prepare\]: "frontend\/missing" is not in /,
    );
    await assert.rejects(
      () => buildArtifact({ ...request(app, cache), mode: "latest", include: ["nope"] }),
      (e: unknown) => e instanceof IncludeError && /\[prepare\]/.test(e.hint ?? ""),
    );
    assert.deepEqual(
      await files(cache).catch(() => []),
      [],
      "a refused include builds nothing",
    );
    const a = await buildArtifact({
      ...request(app, cache),
      mode: "latest",
      include: ["frontend/dist", "frontend/missing", "frontend"],
      missingOk: true,
    });
    assert.deepEqual(a.missing, ["frontend/missing"]);
    assert.ok((await files(join(a.artifactDir, "frontend", "dist"))).includes("app.css"));
  });
});

Deno.test("artifact include: paths and symlinks that lead outside the project are refused", async () => {
  await withTempDir(async (dir) => {
    const app = await repo(dir);
    await buildOutput(app);
    const cache = join(dir, "cache");
    await refused(app, cache, ["/etc"], 0, /must be a relative path inside the project/);
    await refused(app, cache, ["frontend/../../outside.txt"], 0, /without "\." or "\.\." parts/);
    await refused(app, cache, ["."], 0, /without "\." or "\.\." parts/);

    // A link to the repository's file next to the project: ../../../outside.txt from frontend/dist/.
    await Deno.symlink("../../../outside.txt", join(app, "frontend", "dist", "leak.txt"));
    await refused(
      app,
      cache,
      ["frontend/dist"],
      0,
      /symlinks that point outside the project .*"frontend\/dist\/leak\.txt" -> "\.\.\/\.\.\/\.\.\/outside\.txt"/,
    );
    await Deno.remove(join(app, "frontend", "dist", "leak.txt"));
    await Deno.symlink(join(app, "manage.py"), join(app, "frontend", "dist", "abs.py"));
    await refused(app, cache, ["frontend/dist"], 0, /symlinks that point outside the project/);
    await Deno.remove(join(app, "frontend", "dist", "abs.py"));

    // The included path itself a link to a folder outside: its files would be this machine's.
    await Deno.mkdir(join(dir, "elsewhere"));
    await Deno.writeTextFile(join(dir, "elsewhere", "secret.txt"), "controller only\n");
    await Deno.symlink(join(dir, "elsewhere"), join(app, "frontend", "linked"));
    await refused(app, cache, ["frontend/linked"], 0, /must stay inside the project: .* leads to /);

    // A vendored checkout's git folder, reached through a link.
    await Deno.mkdir(join(app, "vendor", "lib", ".git"), { recursive: true });
    await Deno.writeTextFile(join(app, "vendor", "lib", ".git", "HEAD"), "ref: main\n");
    await Deno.symlink("../vendor/lib/.git", join(app, "frontend", "repo"));
    await refused(app, cache, ["frontend/repo"], 0, /must not lead into git's own folder/);

    await Deno.mkdir(join(app, "frontend", "empty"));
    await refused(app, cache, ["frontend/empty"], 0, /holds files after \[prepare\]: .* is empty/);

    await Deno.mkdir(join(app, "frontend", "dist", ".git"));
    await Deno.writeTextFile(join(app, "frontend", "dist", ".git", "HEAD"), "x\n");
    await refused(app, cache, ["frontend/dist"], 0, /must not hold a \.git folder/);
    assert.deepEqual(await files(cache).catch(() => []), [], "nothing was built");
  });
});
