/**
 * Python dependencies: which installer, which lock file, and the hash that
 * names the virtualenv. An unchanged hash means an existing, complete
 * virtualenv is reused and no installer runs.
 */
import { join } from "node:path";
import { sha256 } from "./remote_ops.ts";
import type { DependencyManager, HostConfig } from "./config/types.ts";
import { UserError } from "./errors.ts";

export const LOCK_FILES: Record<DependencyManager, string> = {
  poetry: "poetry.lock",
  uv: "uv.lock",
  pip: "requirements.txt",
};

export interface DependencyPlan {
  readonly manager: DependencyManager;
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

export async function dependencyPlan(
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
  return { manager, lockFile, hash: sha256(key).slice(0, 16) };
}
