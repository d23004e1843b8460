/**
 * What `djaploy init` learns from a Django project's files: manage.py, the
 * settings module, the WSGI application, whether STATIC_ROOT and MEDIA_ROOT
 * come from the environment, the environment variables the settings read,
 * and the dependency manager. Reading is separate from parsing: the parsers
 * are pure functions of file text.
 */
import { dirname, join, relative } from "../paths.ts";
import { UserError } from "../errors.ts";
import type { DependencyManager } from "../config/types.ts";
import {
  analyseSettings,
  parseHealthPath,
  parseProcfile,
  parsePythonVersion,
  type ProcfileEntry,
  procfileWsgi,
  type SettingsFacts,
} from "./settings.ts";
import { textOrder } from "../order.ts";

export interface DjangoProject {
  /** The folder init was run for (the repository root). */
  readonly root: string;
  /** manage.py, relative to root (posix separators). */
  readonly managePy: string;
  readonly projectName: string;
  readonly settingsModule?: string;
  /** The settings file, relative to root, when found. */
  readonly settingsFile?: string;
  /** `module:callable` for gunicorn. */
  readonly wsgiModule?: string;
  /** Where the WSGI module was learnt from, for the comment. */
  readonly wsgiSource?: string;
  readonly dependencyManager?: DependencyManager;
  readonly lockFile?: string;
  readonly pythonVersion?: string;
  /** The file python_version was read from: runtime.txt or .python-version. */
  readonly pythonVersionSource?: string;
  /** What the settings file says about hosts, DEBUG, the database, static and media. */
  readonly settings?: SettingsFacts;
  /** The Procfile's lines (Heroku and its kin), when there is one. */
  readonly procfile?: readonly ProcfileEntry[];
  /** A health endpoint found in a urls.py, e.g. "/health/". */
  readonly healthPath?: string;
  /** Requirements that matter on a server of djaploy's, as named in the lock file or settings. */
  readonly uses: { readonly djDatabaseUrl: boolean; readonly whitenoise: boolean };
  /** Environment variables the settings read, in order of appearance. */
  readonly settingsEnv: readonly string[];
  readonly staticFromEnv: boolean;
  readonly mediaFromEnv: boolean;
  readonly staticUrl?: string;
  readonly mediaUrl?: string;
}

const SKIP_DIRS = new Set([
  ".git",
  "node_modules",
  ".venv",
  "venv",
  "env",
  "__pycache__",
  "site-packages",
  ".tox",
  "dist",
  "build",
  "infra",
]);

/** manage.py files at most `depth` folders below `root`, shallowest first. */
export async function findManagePy(root: string, depth = 3): Promise<string[]> {
  return await findFiles(root, "manage.py", depth);
}

/** Files named `name` at most `depth` folders below `root`, shallowest first. */
async function findFiles(root: string, name: string, depth: number): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, level: number) => {
    const subdirs: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name === name) found.push(relative(root, join(dir, e.name)));
      else if (e.isDirectory && !SKIP_DIRS.has(e.name) && !e.name.startsWith(".")) {
        subdirs.push(e.name);
      }
    }
    if (level < depth) { for (const s of subdirs.sort()) await walk(join(dir, s), level + 1); }
  };
  await walk(root, 0);
  return found.sort((a, b) => a.split("/").length - b.split("/").length || textOrder(a, b));
}

/** DJANGO_SETTINGS_MODULE as manage.py sets its default. */
export function parseSettingsModule(managePy: string): string | undefined {
  return /DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][\w.]*)['"]/.exec(managePy)?.[1];
}

/** `WSGI_APPLICATION = "pkg.wsgi.application"` as gunicorn's `pkg.wsgi:application`. */
export function parseWsgiApplication(settings: string): string | undefined {
  const m = /^WSGI_APPLICATION\s*=\s*['"]([A-Za-z_][\w.]*)\.([A-Za-z_]\w*)['"]/m.exec(settings);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/** Names of environment variables read by `os.environ.get("X")`, `os.environ["X"]`, `os.getenv("X")`, `env("X")`. */
export function parseSettingsEnv(settings: string): string[] {
  const names: string[] = [];
  const re =
    /(?:os\.environ\.get|os\.getenv|os\.environ\.setdefault|\benv(?:\.\w+)?)\(\s*['"]([A-Za-z_]\w*)['"]|os\.environ\[\s*['"]([A-Za-z_]\w*)['"]\s*\]/g;
  for (const m of settings.matchAll(re)) {
    const name = m[1] ?? m[2];
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** A simple string setting, e.g. STATIC_URL = "/static/". */
export function parseStringSetting(settings: string, name: string): string | undefined {
  return new RegExp(`^${name}\\s*=\\s*['"]([^'"]*)['"]`, "m").exec(settings)?.[1];
}

/** A name valid as djaploy's project_name (lower case, starts with a letter). */
export function projectNameFrom(candidate: string): string {
  const name = candidate.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[^a-z]+/, "")
    .slice(0, 63);
  return name || "app";
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** The settings module's file under manage.py's folder: `a/b.py` or `a/b/__init__.py`. */
async function settingsPath(manageDir: string, module: string): Promise<string | undefined> {
  const base = join(manageDir, ...module.split("."));
  for (const candidate of [`${base}.py`, join(base, "__init__.py")]) {
    if (await exists(candidate)) return candidate;
  }
  return undefined;
}

/** Reads a Django project under `root`; throws a UserError without a manage.py. */
export async function detectDjangoProject(root: string): Promise<DjangoProject> {
  const manages = await findManagePy(root);
  if (manages.length === 0) {
    throw new UserError(
      `Run djaploy init in a Django project: no manage.py in ${root} or the folders below it`,
      { hint: "cd to your project's repository root, or give it with --dir PATH" },
    );
  }
  const managePy = manages[0].split("\\").join("/");
  const manageDir = dirname(join(root, managePy));
  const settingsModule = parseSettingsModule(await readText(join(root, managePy)) ?? "");
  const settingsFull = settingsModule ? await settingsPath(manageDir, settingsModule) : undefined;
  const settings = settingsFull ? await readText(settingsFull) ?? "" : "";
  let wsgiModule = parseWsgiApplication(settings);
  let wsgiSource = wsgiModule ? "WSGI_APPLICATION" : undefined;
  const pkg = settingsModule?.split(".")[0];
  if (!wsgiModule && pkg && await exists(join(manageDir, pkg, "wsgi.py"))) {
    wsgiModule = `${pkg}.wsgi:application`;
    wsgiSource = `${pkg}/wsgi.py`;
  }
  const env = parseSettingsEnv(settings);
  const lock = await firstExisting(root, manageDir, [
    ["poetry.lock", "poetry"],
    ["uv.lock", "uv"],
    ["requirements.txt", "pip"],
  ]);
  let pythonVersion: string | undefined;
  let pythonVersionSource: string | undefined;
  for (const file of [".python-version", "runtime.txt"]) {
    for (const dir of [root, manageDir]) {
      const v = parsePythonVersion(await readText(join(dir, file)) ?? "");
      if (v && !pythonVersion) {
        pythonVersion = v;
        pythonVersionSource = relative(root, join(dir, file)).split("\\").join("/");
      }
    }
  }
  const procfileText = await readText(join(root, "Procfile")) ??
    await readText(join(manageDir, "Procfile"));
  const procfile = procfileText === undefined ? undefined : parseProcfile(procfileText);
  const web = procfile?.find((e) => e.type === "web");
  if (!wsgiModule && web && procfileWsgi(web.command)) {
    wsgiModule = procfileWsgi(web.command);
    wsgiSource = "Procfile";
  }
  let healthPath: string | undefined;
  for (const urls of await findFiles(manageDir, "urls.py", 3)) {
    healthPath ??= parseHealthPath(await readText(join(manageDir, urls)) ?? "");
  }
  const lockText = lock ? await readText(join(root, lock[0])) ?? "" : "";
  const facts = settingsFull ? analyseSettings(settings) : undefined;
  return {
    root,
    managePy,
    projectName: projectNameFrom(pkg ?? root.split(/[\\/]/).filter(Boolean).pop() ?? "app"),
    settingsModule,
    settingsFile: settingsFull ? relative(root, settingsFull).split("\\").join("/") : undefined,
    wsgiModule,
    wsgiSource,
    dependencyManager: lock?.[1],
    lockFile: lock?.[0],
    pythonVersion,
    pythonVersionSource,
    settings: facts,
    procfile,
    healthPath,
    uses: {
      djDatabaseUrl: Boolean(facts?.usesDjDatabaseUrl) || /dj-database-url/i.test(lockText),
      whitenoise: Boolean(facts?.usesWhitenoise) || /\bwhitenoise\b/i.test(lockText),
    },
    settingsEnv: env,
    staticFromEnv: env.includes("STATIC_ROOT"),
    mediaFromEnv: env.includes("MEDIA_ROOT"),
    staticUrl: parseStringSetting(settings, "STATIC_URL"),
    mediaUrl: parseStringSetting(settings, "MEDIA_URL"),
  };
}

async function firstExisting(
  root: string,
  manageDir: string,
  candidates: [string, DependencyManager][],
): Promise<[string, DependencyManager] | undefined> {
  for (const dir of [root, manageDir]) {
    for (const [file, manager] of candidates) {
      if (await exists(join(dir, file))) return [relative(root, join(dir, file)), manager];
    }
  }
  return undefined;
}
