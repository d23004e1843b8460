import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { ProjectConfig } from "../../lib/config/types.ts";

type Files = Readonly<Record<string, string>>;

async function withFiles<T>(files: Files, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_artifact_" }));
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const lines = (...ls: string[]) => ls.join("\n") + "\n";
const INVENTORY = lines("[[hosts]]", 'name = "web1"', 'ssh_hostname = "10.0.0.1"');
const P = 'project_name = "hello"';

async function load(project: string[], inventory = INVENTORY): Promise<ProjectConfig> {
  return await withFiles(
    { "infra/djaploy.toml": lines(...project), "infra/inventory/production.toml": inventory },
    async (dir) => {
      const loaded = await loadProject({ cwd: dir });
      await loadEnvironment(loaded, "production");
      return loaded;
    },
  );
}

async function loadError(project: string[], inventory?: string): Promise<string> {
  try {
    await load(project, inventory);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  throw new Error("expected a config error");
}

Deno.test("[artifact] include: parsed, a trailing slash dropped; empty by default", async () => {
  const project = await load([P, "[artifact]", 'include = ["frontend/dist/", "static/build"]']);
  assert.deepEqual(project.artifact, { include: ["frontend/dist", "static/build"] });
  assert.deepEqual((await load([P])).artifact, { include: [] });
});

const RELATIVE =
  'must be a relative path inside the project\'s folder, without "." or ".." parts ' +
  '(e.g. "frontend/dist"): got ';

const BAD: [string, string[], string][] = [
  [
    "an absolute path",
    [P, "[artifact]", 'include = ["/etc/passwd"]'],
    `infra/djaploy.toml:3: artifact.include[0]: ${RELATIVE}"/etc/passwd"`,
  ],
  [
    "a path out of the project",
    [P, "[artifact]", 'include = ["dist", "../secrets"]'],
    `infra/djaploy.toml:3: artifact.include[1]: ${RELATIVE}"../secrets"`,
  ],
  [
    "the whole project",
    [P, "[artifact]", 'include = ["."]'],
    `infra/djaploy.toml:3: artifact.include[0]: ${RELATIVE}"."`,
  ],
  [
    "git's folder",
    [P, "[artifact]", 'include = [".git/objects"]'],
    `infra/djaploy.toml:3: artifact.include[0]: must not name git's own folder: got ".git/objects"`,
  ],
  [
    "a string, not a list",
    [P, "[artifact]", 'include = "frontend/dist"'],
    'infra/djaploy.toml:3: artifact.include: must be an array of strings: got "frontend/dist"',
  ],
  [
    "an unknown key",
    [P, "[artifact]", 'includes = ["frontend/dist"]'],
    'infra/djaploy.toml:3: artifact: unknown key "includes" (did you mean "include"?)',
  ],
];

for (const [name, project, message] of BAD) {
  Deno.test(`[artifact] include refuses ${name}`, async () => {
    const got = await loadError(project);
    assert.ok(got.startsWith(message), `got: ${got}`);
  });
}

Deno.test("[artifact] belongs to djaploy.toml, not to an inventory", async () => {
  const got = await loadError(
    [P],
    lines("[defaults.artifact]", 'include = ["dist"]', "", INVENTORY),
  );
  assert.match(got, /defaults\.artifact: not allowed in inventory/);
});
