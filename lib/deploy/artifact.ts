/**
 * Artifacts: the project's files at a git ref, as a folder in the local
 * cache, ready to be shipped with rsync. Built with `git archive`, so
 * export-ignore is honoured. `[artifact] include` adds build outputs to the
 * tree (lib/deploy/artifact_include.ts). Equal trees are equal artifacts: a cached
 * one is reused.
 */
import { join } from "node:path";
import { runProcess } from "../exec/process.ts";
import { UsageError, UserError } from "../errors.ts";
import { editDistance } from "../config/did_you_mean.ts";
import type { ReleaseInfo } from "../engine/module_api.ts";
import {
  copyIncluded,
  type IncludedFile,
  includedFiles,
  scratchGit,
  treeWithIncluded,
} from "./artifact_include.ts";
import { textOrder } from "../order.ts";

export type ArtifactMode = "latest" | "local" | "release";

export interface ArtifactRequest {
  readonly mode: ArtifactMode;
  /** The tag, for mode "release". */
  readonly tag?: string;
  /** The project's root (the folder holding infra/); may be a subfolder of the repository. */
  readonly projectDir: string;
  readonly cacheDir: string;
  readonly appName: string;
  readonly now?: Date;
  /** Remove all but the newest artifacts after building (default true; a dry run removes none). */
  readonly prune?: boolean;
  /** `[artifact] include`: paths relative to projectDir added to git's files. */
  readonly include?: readonly string[];
  /** Leave out included paths that do not exist, listing them (a dry run, which runs no [prepare]). */
  readonly missingOk?: boolean;
}

export interface Artifact extends ReleaseInfo {
  /** The tree git has for the code, without included build outputs. */
  readonly gitTree: string;
  /** Included paths left out because they do not exist (only with `missingOk`). */
  readonly missing: readonly string[];
}

async function git(cwd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const r = await runProcess("git", args, { cwd, env });
  if (r.code !== 0) {
    throw new UserError(
      `git ${args[0]} failed in ${cwd}: ${r.stderr.trim() || `exit code ${r.code}`}`,
    );
  }
  return r.stdout.trim();
}

async function tryGit(cwd: string, args: string[]): Promise<string | undefined> {
  const r = await runProcess("git", args, { cwd });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** `20261126T070102Z`: sorts by time, safe in paths. */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

interface Resolved {
  commit: string;
  ref: string;
  tree: string;
}

async function resolve(req: ArtifactRequest, top: string, prefix: string): Promise<Resolved> {
  const sub = (
    treeish: string,
  ) => (prefix ? `${treeish}:${prefix.replace(/\/$/, "")}` : `${treeish}^{tree}`);
  if (req.mode === "release") {
    const tag = req.tag!;
    const commit = await releaseCommit(top, tag);
    return { commit, ref: tag, tree: await git(top, ["rev-parse", sub(commit)]) };
  }
  const head = await tryGit(top, ["rev-parse", "--verify", "-q", "HEAD^{commit}"]);
  if (req.mode === "latest") {
    if (!head) {
      throw new UserError(`Commit something first: the repository in ${top} has no commits`);
    }
    const branch = (await tryGit(top, ["symbolic-ref", "--short", "-q", "HEAD"])) ?? "HEAD";
    return { commit: head, ref: branch, tree: await git(top, ["rev-parse", sub(head)]) };
  }
  // --local: tracked and untracked-but-not-ignored files as they are now,
  // through a throwaway index so the user's own index is left alone.
  const index = await Deno.makeTempFile({ prefix: "djaploy-index-" });
  try {
    const env = { GIT_INDEX_FILE: index };
    await Deno.remove(index);
    if (head) await git(top, ["read-tree", "HEAD"], env);
    await git(top, ["add", "-A", "--", prefix || "."], env);
    const full = await git(top, ["write-tree"], env);
    const tree = await git(top, [
      "rev-parse",
      prefix ? `${full}:${prefix.replace(/\/$/, "")}` : full,
    ]);
    return { commit: head ?? "0000000", ref: "local", tree };
  } finally {
    await Deno.remove(index).catch(() => undefined);
  }
}

/**
 * The commit of tag `tag` in the repository holding `dir`. An unknown tag is a
 * usage error naming the tag and the closest tags there are, so `deploy
 * --release` can fail before it connects to any host or takes any lock.
 */
export async function releaseCommit(dir: string, tag: string): Promise<string> {
  const where = await tryGit(dir, ["rev-parse", "--show-toplevel"]);
  if (where === undefined) throw notInGit(dir);
  const commit = await tryGit(dir, ["rev-parse", "--verify", "-q", `refs/tags/${tag}^{commit}`]);
  if (commit) return commit;
  const tags = (await tryGit(dir, ["tag", "--sort=-creatordate"]))?.split("\n").filter(Boolean) ??
    [];
  const close = closeTags(tag, tags);
  throw new UsageError(
    `Unknown tag for --release: ${JSON.stringify(tag)} does not exist in ${where}` +
      (close.length ? `: close tags: ${close.join(", ")}` : ""),
    {
      hint: tags.length === 0
        ? "The repository has no tags."
        : `Recent tags: ${tags.slice(0, 5).join(", ")}`,
    },
  );
}

function notInGit(dir: string): UserError {
  return new UserError(`Put the project under git: ${dir} is not in a git repository`, {
    hint: "djaploy builds what it deploys from git (git init && git add -A && git commit).",
  });
}

/** Tags within a few edits of `tag` (a typo), or sharing its prefix, closest first. */
export function closeTags(tag: string, tags: readonly string[], max = 5): string[] {
  const scored = tags.map((t) => ({ t, d: editDistance(t, tag) }))
    .filter(({ t, d }) => d <= Math.max(2, Math.floor(tag.length / 3)) || t.startsWith(tag));
  scored.sort((a, b) => a.d - b.d || textOrder(a.t, b.t));
  return scored.slice(0, max).map(({ t }) => t);
}

/** Builds (or reuses) the artifact for a request. */
export async function buildArtifact(req: ArtifactRequest): Promise<Artifact> {
  const inside = await runProcess("git", ["rev-parse", "--show-toplevel", "--show-prefix"], {
    cwd: req.projectDir,
  }).catch(() => undefined);
  if (!inside || inside.code !== 0) {
    throw notInGit(req.projectDir);
  }
  const [top, prefix = ""] = inside.stdout.split("\n");
  const resolved = await resolve(req, top, prefix.trim());
  const include = req.include ?? [];
  if (include.length === 0) return await fromTree(req, top, resolved, { gitTree: resolved.tree });
  // Walked before the scratch folder exists: a bad path leaves nothing behind.
  const { files, missing } = await includedFiles(req.projectDir, include, req);
  const artifacts = join(req.cacheDir, "artifacts");
  const scratch = join(artifacts, `objects.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    const g = await scratchGit(top, scratch);
    const tree = files.length
      ? await treeWithIncluded(g, resolved.tree, include, files)
      : resolved.tree;
    return await fromTree(req, top, { ...resolved, tree }, {
      gitTree: resolved.tree,
      missing,
      overlay: files.length ? { include, files } : undefined,
    });
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => undefined);
  }
}

async function fromTree(
  req: ArtifactRequest,
  top: string,
  { commit, ref, tree }: Resolved,
  extra: {
    gitTree: string;
    missing?: readonly string[];
    /** Build outputs copied in after git's files are unpacked. */
    overlay?: { include: readonly string[]; files: readonly IncludedFile[] };
  },
): Promise<Artifact> {
  const more = { gitTree: extra.gitTree, missing: extra.missing ?? [] };
  const short = commit.slice(0, 7);
  const name = `${timestamp(req.now ?? new Date())}-${short}`;
  const artifacts = join(req.cacheDir, "artifacts");
  await Deno.mkdir(artifacts, { recursive: true });

  const byTree = join(artifacts, `tree-${tree}`);
  const existing = await Deno.realPath(byTree).catch(() => undefined);
  if (existing) {
    const now = new Date();
    await Deno.utime(existing, now, now); // the newest artifacts are the ones kept
    return { name, artifactDir: existing, commit, ref, tree, ...more };
  }

  const slug = ref.replace(/[^A-Za-z0-9._-]+/g, "-");
  // The tree in the name: the same commit with other files (--local, build outputs) built in
  // the same second must not take this artifact's folder for its own.
  const dirName = `${req.appName}-${slug}-${short}-${tree.slice(0, 7)}-${
    timestamp(req.now ?? new Date())
  }`;
  const dir = join(artifacts, dirName);
  // Private names: two runs building the same tree at once must not remove each other's files.
  const own = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const tmp = `${dir}.tmp-${own}`;
  const tar = `${dir}.${own}.tar`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    // git's files; build outputs are copied in below (their blobs were hashed, never written).
    await git(top, ["archive", "--format=tar", "-o", tar, extra.gitTree]);
    const x = await runProcess("tar", ["-xf", tar, "-C", tmp]);
    if (x.code !== 0) throw new UserError(`Unpack the artifact: tar failed: ${x.stderr.trim()}`);
    if (extra.overlay) await copyIncluded(tmp, extra.overlay.include, extra.overlay.files);
    await Deno.rename(tmp, dir).catch(async (err) => {
      // Another run finished the same artifact first: use theirs.
      if (!(await Deno.stat(dir).then(() => true, () => false))) throw err;
    });
    await Deno.symlink(dirName, byTree).catch((err) => {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    });
  } finally {
    await Deno.remove(tar).catch(() => undefined);
    await Deno.remove(tmp, { recursive: true }).catch(() => undefined);
  }
  const built = await Deno.realPath(byTree);
  if (req.prune !== false) await pruneArtifacts(artifacts, 5);
  return { name, artifactDir: built, commit, ref, tree, ...more };
}

/** Keeps the newest `keep` artifacts in the cache. */
async function pruneArtifacts(dir: string, keep: number): Promise<void> {
  const entries: { name: string; mtime: number }[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory && !e.name.includes(".tmp-")) {
      const st = await Deno.stat(join(dir, e.name));
      entries.push({ name: e.name, mtime: st.mtime?.getTime() ?? 0 });
    }
  }
  entries.sort((a, b) => b.mtime - a.mtime);
  const gone = new Set(entries.slice(keep).map((e) => e.name));
  for (const name of gone) await Deno.remove(join(dir, name), { recursive: true });
  for await (const e of Deno.readDir(dir)) {
    if (e.isSymlink && e.name.startsWith("tree-")) {
      const target = await Deno.readLink(join(dir, e.name));
      if (gone.has(target)) await Deno.remove(join(dir, e.name));
    }
  }
}
