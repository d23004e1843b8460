/** lib/release/git.ts against real git repositories in temp folders, with a local bare remote. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  annotatedTagMessage,
  commitsBetween,
  createTag,
  pushRemote,
  pushTag,
  tagFacts,
  treeDiffersFromHead,
  uncommittedChanges,
} from "../lib/release/git.ts";
import { warnUncommitted } from "../lib/commands/deploy.ts";
import { Ui } from "../lib/output/ui.ts";
import { simpleChangelog } from "../lib/release/changelog_writers.ts";
import { sh, withTempDir } from "./helpers/fixtures.ts";

const GIT_ENV = {
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.com",
  GIT_CONFIG_NOSYSTEM: "1",
  HOME: "/nonexistent",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
};

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await sh('git "$@"', args, { cwd, env: GIT_ENV });
  assert.equal(r.code, 0, `git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A repository with history: v1.0.0, two commits, a feature branch merged, a fixup. */
async function makeRepo(dir: string): Promise<{ repo: string; remote: string }> {
  const repo = join(dir, "repo");
  const remote = join(dir, "remote.git");
  await Deno.mkdir(repo);
  await git(dir, "init", "-q", "--bare", remote);
  await git(repo, "init", "-q", "-b", "main");
  await git(repo, "config", "user.name", "t");
  await git(repo, "config", "user.email", "t@example.com");
  const commit = async (file: string, message: string) => {
    await Deno.writeTextFile(join(repo, file), message);
    await git(repo, "add", "-A");
    await git(repo, "commit", "-q", "-m", message);
  };
  await commit("a.txt", "Initial commit");
  await git(repo, "tag", "-a", "v1.0.0", "-m", "v1.0.0\n\n- Initial commit");
  await commit("b.txt", "Add the pricing page");
  await git(repo, "checkout", "-q", "-b", "feature");
  await commit("c.txt", "Send invoices by email");
  await commit("c2.txt", "fixup! Send invoices by email");
  await git(repo, "checkout", "-q", "main");
  await commit("d.txt", "Fix the footer on small screens");
  await git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature");
  await git(repo, "tag", "lightweight");
  await git(repo, "remote", "add", "origin", remote);
  await git(repo, "push", "-q", "-u", "origin", "main");
  return { repo, remote };
}

Deno.test("release git: tags, tags at a commit, tags in its history", async () => {
  await withTempDir(async (dir) => {
    const { repo } = await makeRepo(dir);
    const head = await git(repo, "rev-parse", "HEAD");
    const facts = await tagFacts(repo, head);
    assert.deepEqual(facts.tags.sort(), ["lightweight", "v1.0.0"]);
    assert.deepEqual(facts.tagsAtCommit, ["lightweight"]);
    assert.deepEqual(facts.mergedTags.sort(), ["lightweight", "v1.0.0"]);
    const first = await git(repo, "rev-list", "--max-parents=0", "HEAD");
    assert.deepEqual((await tagFacts(repo, first)).tagsAtCommit, ["v1.0.0"]);
    // A repository without commits (deploy --local of a fresh project) has no tags anywhere.
    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    await git(empty, "init", "-q");
    assert.deepEqual(await tagFacts(empty, "0000000"), {
      tags: [],
      tagsAtCommit: [],
      mergedTags: [],
    });
  });
});

Deno.test("release git: the commits since a tag; the simple changelog drops the merge and the fixup", async () => {
  await withTempDir(async (dir) => {
    const { repo } = await makeRepo(dir);
    const commits = await commitsBetween(repo, "v1.0.0", "HEAD");
    // Commits made within one second: git orders them as it likes.
    assert.deepEqual(commits.map((c) => `${c.parents} ${c.subject}`).sort(), [
      "1 Add the pricing page",
      "1 Fix the footer on small screens",
      "1 Send invoices by email",
      "1 fixup! Send invoices by email",
      "2 Merge branch 'feature'",
    ]);
    assert.deepEqual(simpleChangelog(commits).sort(), [
      "Add the pricing page",
      "Fix the footer on small screens",
      "Send invoices by email",
    ]);
    assert.equal((await commitsBetween(repo, undefined, "HEAD")).length, 6);
  });
});

Deno.test("release git: an annotated tag keeps its message; a lightweight tag has none", async () => {
  await withTempDir(async (dir) => {
    const { repo } = await makeRepo(dir);
    const head = await git(repo, "rev-parse", "HEAD");
    await createTag(repo, { name: "v1.1.0", commit: head, message: "v1.1.0\n\n- One\n- Two" });
    assert.equal(await git(repo, "cat-file", "-t", "v1.1.0"), "tag");
    assert.equal(await git(repo, "rev-parse", "v1.1.0^{commit}"), head);
    assert.equal(await annotatedTagMessage(repo, "v1.1.0"), "v1.1.0\n\n- One\n- Two");
    assert.equal(await annotatedTagMessage(repo, "lightweight"), undefined);
    assert.equal(await annotatedTagMessage(repo, "v9.9.9"), undefined);
    await assert.rejects(
      () => createTag(repo, { name: "v1.1.0", commit: head, message: "again" }),
      /git tag failed in .*already exists/,
    );
  });
});

Deno.test("release git: a tag is pushed to the branch's upstream remote", async () => {
  await withTempDir(async (dir) => {
    const { repo, remote } = await makeRepo(dir);
    await git(repo, "remote", "add", "mirror", join(dir, "nowhere.git"));
    assert.equal(await pushRemote(repo), "origin", "the upstream wins over other remotes");
    const head = await git(repo, "rev-parse", "HEAD");
    await createTag(repo, { name: "v1.1.0", commit: head, message: "v1.1.0" });
    await pushTag(repo, "origin", "v1.1.0");
    assert.match(await git(remote, "tag", "--list"), /^v1\.1\.0$/m);
    assert.equal(
      await git(remote, "cat-file", "-t", "v1.1.0"),
      "tag",
      "annotated on the remote too",
    );
    await assert.rejects(() => pushTag(repo, "mirror", "v1.1.0"), /git push failed/);
  });
});

Deno.test("release git: without an upstream, the only remote or origin; none without remotes", async () => {
  await withTempDir(async (dir) => {
    const repo = join(dir, "r");
    await Deno.mkdir(repo);
    await git(repo, "init", "-q", "-b", "main");
    assert.equal(await pushRemote(repo), undefined);
    await git(repo, "remote", "add", "upstream", "/x");
    assert.equal(await pushRemote(repo), "upstream");
    await git(repo, "remote", "add", "origin", "/y");
    assert.equal(await pushRemote(repo), "origin");
  });
});

Deno.test("release git: the working tree differs from HEAD only with changes", async () => {
  await withTempDir(async (dir) => {
    const { repo } = await makeRepo(dir);
    const head = await git(repo, "rev-parse", "HEAD:./");
    assert.equal(await treeDiffersFromHead(repo, head), false);
    assert.equal(await treeDiffersFromHead(repo, "0".repeat(40)), true);
  });
});

Deno.test("deploy: warns when tracked files differ from HEAD, names them and --local", async () => {
  await withTempDir(async (dir) => {
    const repo = join(dir, "app");
    await Deno.mkdir(join(repo, "site"), { recursive: true });
    await git(repo, "init", "-q", "-b", "main");
    const warned = async () => {
      const err: string[] = [];
      await warnUncommitted(
        new Ui({
          verbosity: "normal",
          color: false,
          writeErr: (t) => void err.push(t),
          write: () => {},
        }),
        repo,
      );
      return err.join("");
    };
    assert.equal(await warned(), "", "before the first commit: nothing to compare with");
    await Deno.writeTextFile(join(repo, "site/settings.py"), "ALLOWED_HOSTS = []\n");
    await Deno.writeTextFile(join(repo, "manage.py"), "\n");
    await git(repo, "add", "-A");
    await git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one");
    await Deno.writeTextFile(join(repo, "untracked.py"), "\n");
    assert.equal(await warned(), "", "untracked files are not the user's settings edits");
    assert.deepEqual(await uncommittedChanges(repo), []);

    await Deno.writeTextFile(join(repo, "site/settings.py"), "ALLOWED_HOSTS = ['x']\n");
    assert.deepEqual(await uncommittedChanges(repo), ["site/settings.py"]);
    await Deno.writeTextFile(join(repo, "manage.py"), "# staged\n");
    await git(repo, "add", "manage.py");
    assert.deepEqual(await uncommittedChanges(repo), ["manage.py", "site/settings.py"]);
    assert.deepEqual(await uncommittedChanges(join(repo, "site")), ["settings.py"]);
    assert.equal(
      await warned(),
      "warning: Commit your changes to deploy them, or ship the working tree with --local: " +
        "2 tracked files differ from HEAD, which this deploy ships without them " +
        "(manage.py, site/settings.py)\n",
    );
    // A change undone in the working tree is not a difference.
    await Deno.writeTextFile(join(repo, "site/settings.py"), "ALLOWED_HOSTS = []\n");
    await git(repo, "reset", "-q", "manage.py");
    await Deno.writeTextFile(join(repo, "manage.py"), "\n");
    assert.equal(await warned(), "");
  });
});
