/**
 * A throwaway git checkout of examples/hello with an infra/ folder (config and
 * the `test` inventory) for the given hosts. The example's own infra/ (its
 * demo and production inventories, its local module) is not copied: add what
 * a test needs with `files`.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { KEEP, log, REPO, requireHosts } from "./environment.ts";
import { deferToHosts, type TestHost } from "./hosts.ts";
import { run, type RunResult } from "./run.ts";

export interface ProjectOptions {
  /** The hosts of inventory `test`: names and IPs (TestHosts also give the ssh key). */
  readonly hosts: ReadonlyArray<Pick<TestHost, "name" | "ip"> & { readonly key?: string }>;
  /** `deployment_strategy`; default "in_place". */
  readonly strategy?: string;
  /** `modules`; default ["core", "nginx", "systemd"]. */
  readonly modules?: readonly string[];
  /**
   * TOML appended to djaploy.toml. It lands after the `[env]` table, so start
   * it with a table header (`[nginx]`); use `strategy`/`modules` for top-level keys.
   */
  readonly config?: string;
  /**
   * The body of `[dependencies]`; default pip with `--no-index` and the
   * system's site packages (Django and gunicorn from Debian).
   */
  readonly dependencies?: string;
  /** The folder of examples/ to copy; default "hello". */
  readonly example?: string;
  /** false: write no infra/ (a project before `djaploy init`); default true. */
  readonly infra?: boolean;
  /** Files to write (or, with null, remove) before the first commit, relative to the project. */
  readonly files?: Readonly<Record<string, string | null>>;
}

export interface TestProject {
  /** The git work tree (branch main, one commit), where djaploy runs. */
  readonly dir: string;
  /** `<dir>/infra`. */
  readonly infraDir: string;
  /** The temp dir that holds `dir` and `known_hosts`, outside the work tree. */
  readonly root: string;
  readonly knownHostsFile: string;
  /** Writes a file (relative to `dir`), making its parent dirs. */
  write(path: string, content: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Stages everything and commits; returns the new commit's sha. */
  commit(message: string): Promise<string>;
  git(...args: string[]): Promise<RunResult>;
  /** Removes the temp dir (kept with DJAPLOY_E2E_KEEP=1). */
  cleanup(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Makes a project. When its hosts came from withHosts it is removed when that
 * call ends; otherwise call `cleanup()` (or declare it with `await using`).
 */
export async function makeProject(opts: ProjectOptions): Promise<TestProject> {
  const key = opts.hosts.find((h) => h.key)?.key ?? (await requireHosts()).key;
  const root = await Deno.makeTempDir({ prefix: "djaploy-e2e-" });
  const dir = join(root, opts.example ?? "hello");
  const knownHostsFile = join(root, "known_hosts");

  const inside = (path: string) => {
    const full = resolve(dir, path);
    if (isAbsolute(path) || !full.startsWith(dir + "/")) {
      throw new Error(`Give a path inside the project: got ${path}`);
    }
    return full;
  };
  const git = async (...args: string[]): Promise<RunResult> => {
    const { code, stdout, stderr } = await run("git", args, { cwd: dir });
    return { code, stdout, stderr };
  };
  const gitOk = async (...args: string[]) => {
    const r = await git(...args);
    if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  };
  const cleanup = async () => {
    if (KEEP) log(`djaploy e2e: kept project ${dir}`);
    else await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  const project: TestProject = {
    dir,
    infraDir: join(dir, "infra"),
    root,
    knownHostsFile,
    async write(path, content) {
      await Deno.mkdir(dirname(inside(path)), { recursive: true });
      await Deno.writeTextFile(inside(path), content);
    },
    async remove(path) {
      await Deno.remove(inside(path), { recursive: true });
    },
    async commit(message) {
      await gitOk("add", "-A");
      await gitOk("commit", "-q", "-m", message);
      return await gitOk("rev-parse", "HEAD");
    },
    git,
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
  const deferred = deferToHosts(opts.hosts, cleanup);
  try {
    await copyTree(join(REPO, "examples", opts.example ?? "hello"), dir);
    if (opts.infra !== false) {
      await project.write("infra/djaploy.toml", djaployToml(opts));
      await project.write("infra/inventory/test.toml", inventoryToml(opts, key, knownHostsFile));
    }
    for (const [path, content] of Object.entries(opts.files ?? {})) {
      if (content === null) await project.remove(path);
      else await project.write(path, content);
    }
    await gitOk("init", "-q", "-b", "main");
    await gitOk("config", "user.name", "djaploy e2e");
    await gitOk("config", "user.email", "e2e@djaploy.test");
    await gitOk("config", "commit.gpgsign", "false");
    await project.commit("Initial commit");
  } catch (err) {
    if (!deferred) await cleanup();
    throw err;
  }
  return project;
}

const DEFAULT_DEPENDENCIES = `manager = "pip"
install_args = ["--no-index"]
system_site_packages = true`;

/** The config contract the end-to-end tests deploy with. */
function djaployToml(opts: ProjectOptions): string {
  const modules = (opts.modules ?? ["core", "nginx", "systemd"]).map((m) => JSON.stringify(m));
  return `project_name = "hello"
app_user = "app"
ssh_user = "deploy"
deployment_strategy = ${JSON.stringify(opts.strategy ?? "in_place")}
modules = [${modules.join(", ")}]

[dependencies]
${opts.dependencies?.trim() ?? DEFAULT_DEPENDENCIES}

[gunicorn]
workers = 2

[health_check]
path = "/health/"

[env]
DJANGO_SETTINGS_MODULE = "hello.settings"
SECRET_KEY = "env:HELLO_SECRET_KEY"
DATABASE_PATH = "/home/app/data/hello.sqlite3"
ALLOWED_HOSTS = "*"
${opts.config ? `\n${opts.config.trim()}\n` : ""}`;
}

function inventoryToml(opts: ProjectOptions, key: string, knownHostsFile: string): string {
  // JSON strings are valid TOML basic strings.
  return opts.hosts.map((host) =>
    [
      "[[hosts]]",
      `name = ${JSON.stringify(host.name)}`,
      `ssh_hostname = ${JSON.stringify(host.ip)}`,
      `ssh_key = ${JSON.stringify(host.key ?? key)}`,
      `known_hosts_file = ${JSON.stringify(knownHostsFile)}`,
      "",
    ].join("\n")
  ).join("\n");
}

/** Copies the example app; its own infra/ stays behind, so tests see only what they configure. */
async function copyTree(from: string, to: string, top = true): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
    if (top && entry.name === "infra") continue;
    if (entry.isDirectory) await copyTree(join(from, entry.name), join(to, entry.name), false);
    else await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
}
