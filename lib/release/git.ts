/**
 * What the release pipeline asks git: tags, the commits since a tag, and
 * creating and pushing an annotated tag. Every call goes through
 * lib/exec/process.ts; nothing here prompts (GIT_TERMINAL_PROMPT=0).
 */
import { runProcess } from "../exec/process.ts";
import { UserError } from "../errors.ts";
import type { CommitInfo } from "./changelog_writers.ts";

const GIT_ENV = { GIT_TERMINAL_PROMPT: "0" };

async function git(cwd: string, args: string[], stdin?: string): Promise<string> {
  const r = await runProcess("git", args, { cwd, env: GIT_ENV, stdin });
  if (r.code !== 0) {
    throw new UserError(
      `git ${args[0]} failed in ${cwd}: ${r.stderr.trim() || `exit code ${r.code}`}`,
    );
  }
  return r.stdout;
}

async function tryGit(cwd: string, args: string[]): Promise<string | undefined> {
  const r = await runProcess("git", args, { cwd, env: GIT_ENV });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

export interface TagFacts {
  readonly tags: string[];
  readonly tagsAtCommit: string[];
  readonly mergedTags: string[];
}

/** Every tag, the tags at `commit`, and the tags in its history. */
export async function tagFacts(repo: string, commit: string): Promise<TagFacts> {
  // A repository without commits (--local) has tags at nothing and in no history.
  const [tags, at, merged] = await Promise.all([
    git(repo, ["tag", "--list"]),
    tryGit(repo, ["tag", "--points-at", commit]),
    tryGit(repo, ["tag", "--merged", commit]),
  ]);
  return { tags: lines(tags), tagsAtCommit: lines(at ?? ""), mergedTags: lines(merged ?? "") };
}

/** Whether the working tree (tracked and untracked, not ignored) differs from HEAD's. */
export async function treeDiffersFromHead(repo: string, tree: string): Promise<boolean> {
  const head = await tryGit(repo, ["rev-parse", "--verify", "-q", "HEAD:./"]);
  return head !== tree;
}

/**
 * Tracked files under `dir` whose content in the working tree or the index
 * differs from HEAD's, relative to `dir`: what a deploy of HEAD leaves out.
 * Empty outside a git repository or before the first commit.
 */
export async function uncommittedChanges(dir: string): Promise<string[]> {
  const out = await tryGit(dir, [
    "-c",
    "core.quotePath=false",
    "diff",
    "HEAD",
    "--name-only",
    "--relative",
    "--no-renames",
    "--",
    ".",
  ]);
  return lines(out ?? "");
}

/** The message of an annotated tag; undefined for a lightweight tag. */
export async function annotatedTagMessage(repo: string, tag: string): Promise<string | undefined> {
  const out = await tryGit(repo, [
    "for-each-ref",
    "--format=%(objecttype)%00%(contents)",
    `refs/tags/${tag}`,
  ]);
  if (!out) return undefined;
  const [type, ...rest] = out.split("\0");
  return type === "tag" ? rest.join("\0").trim() : undefined;
}

/** The commits after `from` up to `to` (all of `to`'s history without `from`), newest first. */
export async function commitsBetween(
  repo: string,
  from: string | undefined,
  to: string,
  limit = 200,
): Promise<CommitInfo[]> {
  const range = from ? [`refs/tags/${from}..${to}`] : [to];
  const out = await git(repo, [
    "log",
    `--max-count=${limit}`,
    "--format=%H%x1f%P%x1f%s%x1e",
    ...range,
  ]);
  return out.split("\x1e").map((r) => r.trim()).filter(Boolean).map((record) => {
    const [sha, parents, subject] = record.split("\x1f");
    return { sha, parents: parents.split(" ").filter(Boolean).length, subject: subject ?? "" };
  });
}

/** Creates an annotated tag at `commit` with `message` (read from stdin: no length limit). */
export async function createTag(
  repo: string,
  opts: { name: string; commit: string; message: string },
): Promise<void> {
  await git(repo, ["tag", "--annotate", "--file=-", opts.name, opts.commit], opts.message + "\n");
}

/**
 * The remote to push tags to: the current branch's upstream remote, else
 * the only remote, else "origin" if there is one.
 */
export async function pushRemote(repo: string): Promise<string | undefined> {
  const branch = await tryGit(repo, ["symbolic-ref", "--short", "-q", "HEAD"]);
  if (branch) {
    const upstream = await tryGit(repo, ["config", "--get", `branch.${branch}.remote`]);
    if (upstream && upstream !== ".") return upstream;
  }
  const remotes = lines((await tryGit(repo, ["remote"])) ?? "");
  if (remotes.length === 1) return remotes[0];
  return remotes.includes("origin") ? "origin" : undefined;
}

/** Pushes one tag to `remote`. */
export async function pushTag(repo: string, remote: string, tag: string): Promise<void> {
  await git(repo, ["push", "--quiet", remote, `refs/tags/${tag}`]);
}
