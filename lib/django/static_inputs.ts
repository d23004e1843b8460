/**
 * What collectstatic reads, hashed: when none of it changed since the live
 * release, the live release's static files are already right. A hash is
 * cheap but can only see what djaploy ships, so it takes in generously
 * ("when in doubt, run"):
 *
 * - every file that is not Python (static/ folders, STATICFILES_DIRS
 *   wherever they are, front-end builds, templates), and Python settings
 *   modules (STATIC_ROOT, STATICFILES_DIRS, STORAGES);
 * - the app's environment ([env] and the static and media roots), which
 *   settings read;
 * - the dependency hash and the Python version (apps bring static files).
 *
 * migrate has no hash: the Python process that runs collectstatic asks
 * Django whether the database needs a migration (MIGRATE_AND_COLLECTSTATIC_PY),
 * which is exact whatever moved, the database included.
 */
import { join, relative } from "../paths.ts";
import { sha256Hex } from "../hash.ts";
import { RunTable } from "../run_table.ts";

export interface DjangoInputs {
  readonly static: string;
}

const cache = new RunTable<string, Promise<string>>(16);

async function walk(dir: string, root: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const full = join(dir, e.name);
    if (e.isDirectory) {
      if (e.name === "node_modules" || e.name === ".git" || e.name === "__pycache__") continue;
      await walk(full, root, out);
    } else if (e.isFile) out.push(relative(root, full));
  }
}

async function hashFiles(root: string, paths: string[]): Promise<string> {
  const lines = await Promise.all(
    paths.sort().map(async (p) => {
      const bytes = await Deno.readFile(join(root, p)).catch(() => new Uint8Array());
      return `${p}\0${await sha256Hex(bytes)}`;
    }),
  );
  return await sha256Hex(lines.join("\n"));
}

/** Whether collectstatic may read the file (see the module's comment). */
export function isStaticInput(path: string): boolean {
  if (/(^|\/)static\//.test(path)) return true;
  if (/(^|\/)settings(\/|[^/]*\.py$)/.test(path)) return true;
  return !path.endsWith(".py") && !path.endsWith(".pyc");
}

function staticFilesHash(artifactDir: string): Promise<string> {
  return cache.get(artifactDir, async () => {
    const files: string[] = [];
    await walk(artifactDir, artifactDir, files);
    return await hashFiles(artifactDir, files.filter(isStaticInput));
  });
}

/**
 * The hashes of a release's Django inputs. `env` is the app's environment
 * as the env file holds it (secrets revealed: only their hash is kept).
 */
export async function djangoInputs(
  artifactDir: string,
  opts: { dependencyHash: string; python: string; env: ReadonlyMap<string, string> },
): Promise<DjangoInputs> {
  const env = [...opts.env].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([k, v]) => `${k}=${v}`).join("\0");
  const files = await staticFilesHash(artifactDir);
  return {
    static:
      (await sha256Hex(`${files}:${opts.dependencyHash}:${opts.python}:${await sha256Hex(env)}`))
        .slice(0, 16),
  };
}
