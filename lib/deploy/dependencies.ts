/**
 * Python dependencies: which installer, which lock file, and the hash that
 * names the virtualenv. An unchanged hash means an existing, complete
 * virtualenv is reused and no installer runs.
 */
import { join } from "node:path";
import * as remotePath from "../remote_path.ts";
import { sha256Hex } from "../hash.ts";
import { RunTable } from "../run_table.ts";
import type { DependencyManager, HostConfig } from "../config/types.ts";
import { UserError } from "../errors.ts";
import { toolDir } from "../host/layout.ts";
import type { FactProbe } from "../host/facts.ts";
import { shScript } from "../exec/remote_command.ts";

export const LOCK_FILES: Record<DependencyManager, string> = {
  poetry: "poetry.lock",
  uv: "uv.lock",
  pip: "requirements.txt",
};

/**
 * A tool djaploy installs for a manager: its own virtualenv in
 * /opt/djaploy/tools, root's, made by `configure` with pip from the
 * configured index and run by the app user.
 */
export interface ManagerTool {
  /** The pip package (and the executable's name). */
  readonly name: "uv" | "poetry";
  /** The pinned version. */
  readonly version: string;
  /** /opt/djaploy/tools/<name>-<version> */
  readonly dir: string;
  /** The executable, in dir/bin. */
  readonly bin: string;
}

/** The tool a manager needs installed by djaploy: uv always, Poetry when pinned (else Debian's). */
export function managerTool(
  host: HostConfig,
  manager: DependencyManager,
): ManagerTool | undefined {
  const d = host.dependencies;
  const version = manager === "uv"
    ? d.uv_version
    : manager === "poetry"
    ? d.poetry_version
    : undefined;
  if (manager === "pip" || version === undefined) return undefined;
  const dir = toolDir(manager, version);
  return { name: manager, version, dir, bin: remotePath.join(dir, "bin", manager) };
}

/** Which of the host's tools (uv, a pinned Poetry) are installed and complete: their dirs. */
export function toolsProbe(host: HostConfig): FactProbe<Set<string>> {
  const dirs = (["uv", "poetry"] as const).flatMap((m) => managerTool(host, m)?.dir ?? []);
  return {
    name: "dependency-tools",
    argv: shScript('for d; do [ -f "$d/.djaploy-complete" ] && echo "$d"; done; true', ...dirs),
    parse: (out) => new Set(out.split("\n").filter((d) => dirs.includes(d))),
  };
}

/** The manager `configure` prepares for: the configured one, pip when it is left to detection. */
export function configuredManager(host: HostConfig): DependencyManager {
  return host.dependencies.manager ?? "pip";
}

/** What the build script runs as the installer: a djaploy tool, Debian's poetry, or pip (empty). */
export function installerCommand(host: HostConfig, manager: DependencyManager): string {
  if (manager === "pip") return "";
  return managerTool(host, manager)?.bin ?? "poetry";
}

export interface DependencyPlan {
  readonly manager: DependencyManager;
  /** The installer the build script runs (see installerCommand). */
  readonly command: string;
  /** The tool djaploy installed for the manager, if it needs one. */
  readonly tool?: ManagerTool;
  readonly lockFile: string;
  /** 16 hex characters: names the virtualenv. */
  readonly hash: string;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Detects the manager from the lock files present (poetry, then uv, then pip). */
export async function detectManager(dir: string): Promise<DependencyManager | undefined> {
  for (const m of ["poetry", "uv", "pip"] as const) {
    if (await exists(join(dir, LOCK_FILES[m]))) return m;
  }
  return undefined;
}

/** Plans already made this run, by artifact and what of the host they read. */
const plans = new RunTable<string, Promise<DependencyPlan>>(64);

/**
 * The dependency plan for a release on a host: made once per run for hosts
 * that agree on what it reads (the artifact, the manager and its version,
 * the Python version, the install options), as a fleet's hosts usually do.
 */
export function dependencyPlan(host: HostConfig, artifactDir: string): Promise<DependencyPlan> {
  const d = host.dependencies;
  const key = JSON.stringify([
    artifactDir,
    d.manager ?? null,
    d.uv_version ?? null,
    d.poetry_version ?? null,
    host.python_version,
    d.install_args,
    d.system_site_packages,
  ]);
  return plans.get(key, () => makeDependencyPlan(host, artifactDir));
}

async function makeDependencyPlan(
  host: HostConfig,
  artifactDir: string,
): Promise<DependencyPlan> {
  const manager = host.dependencies.manager ?? await detectManager(artifactDir);
  if (!manager) {
    throw new UserError(
      "Add a dependency file to the project: none of poetry.lock, uv.lock or requirements.txt is in it",
      { hint: "Or set [dependencies] manager in infra/djaploy.toml." },
    );
  }
  const lockFile = LOCK_FILES[manager];
  const lockPath = join(artifactDir, lockFile);
  let lock: string;
  try {
    lock = await Deno.readTextFile(lockPath);
  } catch {
    throw new UserError(`Add ${lockFile} to the project: [dependencies] manager is "${manager}"`);
  }
  // pyproject.toml decides what poetry and uv install as much as the lock does.
  const pyproject = manager === "pip"
    ? ""
    : await Deno.readTextFile(join(artifactDir, "pyproject.toml")).catch(() => "");
  const key = JSON.stringify([
    manager,
    lock,
    pyproject,
    host.python_version,
    host.dependencies.install_args,
    host.dependencies.system_site_packages,
  ]);
  return {
    manager,
    command: installerCommand(host, manager),
    tool: managerTool(host, manager),
    lockFile,
    hash: (await sha256Hex(key)).slice(0, 16),
  };
}

/**
 * dependencies.env and netrc for the given index URLs (credentials
 * included): pip and uv read the URLs from the environment, Poetry (whose
 * sources are in pyproject.toml) the credentials from netrc. Both files are
 * sourced or read by the installers, never put on a command line.
 */
export function indexFiles(
  index: string | undefined,
  extra: readonly string[],
  netrcPath: string,
): { env: Map<string, string>; netrc: string } {
  const env = new Map<string, string>();
  if (index) {
    env.set("PIP_INDEX_URL", index);
    env.set("UV_INDEX_URL", index);
  }
  if (extra.length) {
    env.set("PIP_EXTRA_INDEX_URL", extra.join(" "));
    env.set("UV_EXTRA_INDEX_URL", extra.join(" "));
  }
  // pip ignores a plain-http index unless told to trust its host: the URL
  // configured says http, so it is meant.
  const plainHttp = [index, ...extra].flatMap((u) => {
    const url = u ? new URL(u) : undefined;
    return url?.protocol === "http:" ? [url.host] : [];
  });
  if (plainHttp.length) env.set("PIP_TRUSTED_HOST", [...new Set(plainHttp)].join(" "));
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const u of [index, ...extra]) {
    if (!u) continue;
    const url = new URL(u);
    if (!url.username || seen.has(url.hostname)) continue;
    seen.add(url.hostname);
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    lines.push(`machine ${url.hostname} login ${user} password ${password}`);
  }
  if (lines.length) env.set("NETRC", netrcPath);
  return { env, netrc: lines.length ? lines.join("\n") + "\n" : "" };
}
