/**
 * What `migrate` and `collectstatic` read from the code: when neither the
 * files nor the dependencies changed since the live release, the live
 * release's database schema and static files are already right.
 *
 * - migrate: every file in a `migrations/` folder, and the dependency hash
 *   (third-party apps bring migrations too);
 * - collectstatic: every file in a `static/` folder, settings modules
 *   (STATICFILES_DIRS, storages), and the dependency hash.
 */
import { join, relative } from "./paths.ts";
import { sha256 } from "./remote_ops.ts";

export interface DjangoInputs {
  readonly migrate: string;
  readonly static: string;
}

const cache = new Map<string, Promise<{ migrations: string; statics: string }>>();

async function walk(dir: string, root: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const full = join(dir, e.name);
    if (e.isDirectory) {
      if (e.name === "node_modules" || e.name === ".git" || e.name === "__pycache__") continue;
      await walk(full, root, out);
    } else if (e.isFile) out.push(relative(root, full));
  }
}

function hashFiles(root: string, paths: string[]): Promise<string> {
  return Promise.all(
    paths.sort().map(async (p) =>
      `${p}\0${sha256(await Deno.readTextFile(join(root, p)).catch(() => ""))}`
    ),
  )
    .then((lines) => sha256(lines.join("\n")));
}

function fileHashes(artifactDir: string): Promise<{ migrations: string; statics: string }> {
  let hit = cache.get(artifactDir);
  if (!hit) {
    hit = (async () => {
      const files: string[] = [];
      await walk(artifactDir, artifactDir, files);
      const migrations = files.filter((f) => /(^|\/)migrations\//.test(f));
      const statics = files.filter((f) =>
        /(^|\/)static\//.test(f) || /(^|\/)settings(\/|[^/]*\.py$)/.test(f)
      );
      return {
        migrations: await hashFiles(artifactDir, migrations),
        statics: await hashFiles(artifactDir, statics),
      };
    })();
    cache.set(artifactDir, hit);
  }
  return hit;
}

export async function djangoInputs(
  artifactDir: string,
  dependencyHash: string,
): Promise<DjangoInputs> {
  const { migrations, statics } = await fileHashes(artifactDir);
  return {
    migrate: sha256(`${migrations}:${dependencyHash}`).slice(0, 16),
    static: sha256(`${statics}:${dependencyHash}`).slice(0, 16),
  };
}
