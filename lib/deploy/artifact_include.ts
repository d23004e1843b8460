/**
 * `[artifact] include`: build outputs of `[prepare]` (usually gitignored)
 * added to the artifact git builds. Their blob ids join git's tree (a
 * scratch index, the tree objects in a throwaway object folder that reads
 * the repository's as an alternate), so the artifact's tree hash covers
 * them: a changed build output is a change, an unchanged one is not. The
 * files themselves are copied from disk into the unpacked artifact; the
 * user's repository gains nothing.
 */
import { digestHex } from "../hash.ts";
import { dirname, join, resolve } from "node:path";
import { join as posixJoin, normalize as posixNormalize } from "node:path/posix";
import { runProcess } from "../exec/process.ts";
import { ConfigError, UserError } from "../errors.ts";

/** A path of `[artifact] include` that cannot be shipped; `index` is its place in the list. */
export class IncludeError extends ConfigError {
  constructor(
    readonly index: number,
    readonly path: string,
    readonly problem: string,
    hint?: string,
  ) {
    super(`artifact.include[${index}]: ${problem}`, { hint });
    this.name = "IncludeError";
  }
}

/** One file of an included path, as it goes into the git index. */
export interface IncludedFile {
  /** Relative to the project's folder, `/`-separated. */
  readonly path: string;
  readonly mode: "100644" | "100755" | "120000";
  /** The file on this machine (regular files). */
  readonly source?: string;
  /** The link's target (symlinks). */
  readonly target?: string;
}

/** What the included paths hold; `missing` lists those absent (only with `missingOk`). */
export interface IncludedFiles {
  readonly files: readonly IncludedFile[];
  readonly missing: readonly string[];
}

/**
 * Walks the included paths under `projectDir` (where [prepare] ran). An
 * absent path is an IncludeError (or, with `missingOk`, listed in
 * `missing`); so is a path that leads outside the project, a symlink inside
 * it whose target lies outside the project (or is absolute), a `.git` entry,
 * or anything but files, folders and symlinks. Symlinks are kept as links,
 * never followed.
 */
export async function includedFiles(
  projectDir: string,
  include: readonly string[],
  opts: { missingOk?: boolean } = {},
): Promise<IncludedFiles> {
  const root = await Deno.realPath(projectDir);
  const files = new Map<string, IncludedFile>();
  const missing: string[] = [];
  for (const [index, path] of include.entries()) {
    const fail = (problem: string, hint?: string): never => {
      throw new IncludeError(index, path, problem, hint);
    };
    if (
      path === "" || path.startsWith("/") ||
      path.split("/").some((p) => p === ".." || p === "." || p === "")
    ) {
      fail(
        `must be a relative path inside the project, without "." or ".." parts: got ${
          JSON.stringify(path)
        }`,
      );
    }
    const real = await Deno.realPath(join(root, path)).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    if (real === undefined) {
      if (opts.missingOk) {
        missing.push(path);
        continue;
      }
      fail(
        `must name a path that exists after [prepare]: ${JSON.stringify(path)} is not in ${root}`,
        "Build it with a [prepare] command (they run in the project's folder), " +
          "or remove it from [artifact] include.",
      );
    }
    if (real !== root && !real!.startsWith(root + "/")) {
      fail(
        `must stay inside the project: ${JSON.stringify(path)} leads to ${real}, outside ${root}`,
      );
    }
    if (real === root) {
      fail(`must name a part of the project, not all of it: got ${JSON.stringify(path)}`);
    }
    if (real!.slice(root.length + 1).split("/").includes(".git")) {
      fail(`must not lead into git's own folder: ${JSON.stringify(path)} leads to ${real}`);
    }
    let found = 0;
    await walk(real!, path, (file) => {
      found++;
      files.set(file.path, file);
    }, fail);
    if (found === 0) {
      fail(
        `must name a path that holds files after [prepare]: ${JSON.stringify(path)} is empty`,
        "Check that a [prepare] command builds it.",
      );
    }
  }
  return { files: [...files.values()], missing };
}

async function walk(
  real: string,
  rel: string,
  add: (f: IncludedFile) => void,
  fail: (problem: string, hint?: string) => never,
): Promise<void> {
  const name = rel.split("/").pop()!;
  if (name === ".git") {
    fail(`must not hold a .git folder or file: found ${JSON.stringify(rel)}`);
  }
  const st = await Deno.lstat(real);
  if (st.isSymlink) {
    const target = await Deno.readLink(real);
    const resolved = posixNormalize(posixJoin(dirname(rel), target));
    if (target.startsWith("/") || resolved === ".." || resolved.startsWith("../")) {
      fail(
        `must not hold symlinks that point outside the project (they would ship this machine's ` +
          `files or dangle on the server): ${JSON.stringify(rel)} -> ${JSON.stringify(target)}`,
        "Copy the file into the build output instead, or use a relative link inside the project.",
      );
    }
    add({ path: rel, mode: "120000", target });
  } else if (st.isFile) {
    add({ path: rel, mode: (st.mode ?? 0) & 0o100 ? "100755" : "100644", source: real });
  } else if (st.isDirectory) {
    const names: string[] = [];
    for await (const e of Deno.readDir(real)) names.push(e.name);
    for (const n of names.sort()) await walk(join(real, n), `${rel}/${n}`, add, fail);
  } else {
    fail(`must hold only files, folders and symlinks: ${JSON.stringify(rel)} is neither`);
  }
}

/** git with the throwaway object folder and index of one build. */
export interface GitEnv {
  readonly top: string;
  readonly env: Readonly<Record<string, string>>;
}

async function gitOut(g: GitEnv, args: string[], stdin?: string): Promise<string> {
  const r = await runProcess("git", args, { cwd: g.top, env: g.env, stdin });
  if (r.code !== 0) {
    throw new UserError(
      `git ${args[0]} failed in ${g.top}: ${r.stderr.trim() || `exit code ${r.code}`}`,
    );
  }
  return r.stdout;
}

/**
 * A git environment whose index and new objects live in `scratchDir`
 * (removed by the caller), reading the repository's objects as an alternate.
 */
export async function scratchGit(top: string, scratchDir: string): Promise<GitEnv> {
  // Relative to `top` unless absolute (git before 2.31 has no --path-format).
  const r = await runProcess("git", ["rev-parse", "--git-path", "objects"], { cwd: top });
  if (r.code !== 0) throw new UserError(`git rev-parse failed in ${top}: ${r.stderr.trim()}`);
  const objects = resolve(top, r.stdout.trim());
  await Deno.mkdir(join(scratchDir, "objects"), { recursive: true });
  return {
    top,
    env: {
      GIT_OBJECT_DIRECTORY: join(scratchDir, "objects"),
      GIT_ALTERNATE_OBJECT_DIRECTORIES: objects,
      GIT_INDEX_FILE: join(scratchDir, "index"),
    },
  };
}

/**
 * The tree of `base` with the included paths replaced by `files`: what git
 * has at an included path gives way to what is on disk there.
 */
export async function treeWithIncluded(
  g: GitEnv,
  base: string,
  include: readonly string[],
  files: readonly IncludedFile[],
): Promise<string> {
  // An entry at, below or (a file or link where a folder must be) above an included path goes.
  const under = (p: string) =>
    include.some((i) => p === i || p.startsWith(i + "/") || i.startsWith(p + "/"));
  const kept = (await gitOut(g, ["ls-tree", "-r", "-z", "--full-tree", base]))
    .split("\0").filter((line) => line !== "" && !under(line.slice(line.indexOf("\t") + 1)));
  // Blob ids computed here, not written: the artifact copies the files from disk, so only the
  // tree objects (a few, and small) go to the scratch folder.
  const added = await mapLimit(files, 16, async (f) => {
    const bytes = f.source !== undefined
      ? await Deno.readFile(f.source)
      : new TextEncoder().encode(f.target!);
    return `${f.mode} ${await blobId(bytes)}\t${f.path}`;
  });
  await gitOut(g, ["update-index", "-z", "--index-info"], [...kept, ...added].join("\0") + "\0");
  return (await gitOut(g, ["write-tree", "--missing-ok"])).trim();
}

/** git's id of a blob holding `bytes` (`git hash-object --no-filters`). */
export async function blobId(bytes: Uint8Array): Promise<string> {
  const head = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const object = new Uint8Array(head.length + bytes.length);
  object.set(head);
  object.set(bytes, head.length);
  return await digestHex("SHA-1", object);
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Puts the included files into an unpacked artifact: what git had at an
 * included path goes, the files from disk come in, with git's modes.
 */
export async function copyIncluded(
  dir: string,
  include: readonly string[],
  files: readonly IncludedFile[],
): Promise<void> {
  for (const path of include) {
    // A file or link of git's where a folder of the path must be goes too: nothing is written
    // through a link out of the artifact.
    const parts = path.split("/");
    for (let n = 1; n <= parts.length; n++) {
      const at = join(dir, ...parts.slice(0, n));
      const st = await Deno.lstat(at).catch(() => undefined);
      if (st === undefined) break;
      if (n === parts.length || !st.isDirectory) {
        await Deno.remove(at, { recursive: true });
        break;
      }
    }
  }
  const made = new Set<string>();
  for (const f of files) {
    const to = join(dir, f.path);
    const parent = dirname(to);
    if (!made.has(parent)) {
      await Deno.mkdir(parent, { recursive: true });
      made.add(parent);
    }
    if (f.source === undefined) await Deno.symlink(f.target!, to);
    else {
      await Deno.copyFile(f.source, to);
      await Deno.chmod(to, f.mode === "100755" ? 0o755 : 0o644);
    }
  }
}
