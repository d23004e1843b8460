/**
 * Reads infra/djaploy.toml and infra/inventory/<env>.toml into validated,
 * immutable config objects. The only place that reads config files.
 */
import { dirname, join, relative, resolve } from "node:path";
// An inline npm: specifier, not the import map's bare name: `deno run <URL>/cli.ts`
// has no import map (tests/distribution_test.ts keeps the two versions equal).
// deno-lint-ignore no-import-prefix
import { parse, TomlError } from "npm:smol-toml@1.4.2";
import { ConfigError, UsageError } from "../errors.ts";
import type { EnvironmentConfig, HostConfig, ModuleRef, ProjectConfig } from "./types.ts";
import {
  buildArtifactConfig,
  buildHost,
  buildPrepare,
  deepFreeze,
  hostResolver,
  mergeLayers,
  resolveDefaults,
} from "./build_host.ts";
import type { MaxFail } from "./max_fail.ts";
import { buildCertificates, checkTailnetCertificates } from "./certificates.ts";
import { checkBackupDatabases } from "./backup_databases.ts";
import type { ConfigProblem } from "./problems.ts";
import { throwProblems } from "./problems.ts";
import { type ParseContext, SAFE_NAME, SECTIONS, TOP_LEVEL_KEYS } from "./schema.ts";
import { suggestion } from "./did_you_mean.ts";
import { type Layer, validateLayer } from "./validate_layer.ts";
import { describe, isTable, quoteList } from "./validators.ts";
import { releaseProblems, releaseSettings } from "./release_settings.ts";

/**
 * Loads the project file: `opts.configPath`, or the first `infra/djaploy.toml`
 * found walking up from `opts.cwd` (default: the current directory).
 */
export async function loadProject(
  opts: { configPath?: string; cwd?: string } = {},
): Promise<ProjectConfig> {
  const cwd = resolve(opts.cwd ?? Deno.cwd());
  const configPath = opts.configPath === undefined
    ? await findProjectConfig(cwd)
    : resolve(cwd, opts.configPath);
  const file = displayPath(configPath, cwd);
  const source = await readConfig(configPath, file);
  const table = parseToml(source, file);
  const { layer, problems } = validateLayer({
    scope: "project",
    table,
    prefix: [],
    ctx: parseContext(dirname(dirname(configPath))),
    inheritedModules: TOP_LEVEL_KEYS.modules.defaultValue as ModuleRef[],
  });
  if (problems.length === 0) problems.push(...releaseProblems(layer));
  throwProblems(problems, file, source);
  const infraDir = dirname(configPath);
  return deepFreeze({
    config_path: configPath,
    infra_dir: infraDir,
    repo_dir: dirname(infraDir),
    project_name: layer.project_name as string,
    prepare: buildPrepare(layer),
    artifact: buildArtifactConfig(layer),
    ...releaseSettings(layer),
    environments: await listEnvironments(join(infraDir, "inventory")),
    cwd,
    settings: layer,
  });
}

/**
 * Loads infra/inventory/<envName>.toml and gives each host its complete
 * settings; `opts.hosts` keeps only the named hosts, in inventory order.
 */
export async function loadEnvironment(
  project: ProjectConfig,
  envName: string,
  opts: { hosts?: string[] } = {},
): Promise<EnvironmentConfig> {
  const cwd = project.cwd ?? Deno.cwd();
  const settings = project.settings ??
    (await loadProject({ configPath: project.config_path, cwd })).settings!;
  const inventoryDir = join(project.infra_dir, "inventory");
  const environments = await listEnvironments(inventoryDir);
  if (!environments.includes(envName)) {
    throw unknownEnvironment(envName, environments, displayPath(inventoryDir, cwd));
  }
  const path = join(inventoryDir, `${envName}.toml`);
  const file = displayPath(path, cwd);
  if (!SAFE_NAME.test(envName)) {
    throw new ConfigError(
      `${file}: environment name: must match ${SAFE_NAME.source}: got ${JSON.stringify(envName)}`,
      { hint: "Rename the file." },
    );
  }
  const source = await readConfig(path, file);
  const layers = validateInventory(parseToml(source, file), settings, project.repo_dir);
  throwProblems(layers.problems, file, source);

  const resolveHost = hostResolver([settings, layers.defaults]);
  let hosts: HostConfig[] = layers.hosts.map((h) => {
    const { merged, resolved } = resolveHost(h);
    return buildHost(merged, resolved);
  });
  const certificates = buildCertificates(
    [settings, layers.defaults],
    hosts.map((h) => h.name),
    file,
  );
  checkTailnetCertificates(
    hosts,
    (i) =>
      layers.hosts[i].modules !== undefined
        ? `${file}: hosts[${i}].modules`
        : layers.defaults.modules !== undefined
        ? `${file}: defaults.modules`
        : `${displayPath(project.config_path, cwd)}: modules`,
  );
  await checkBackupDatabases(hosts, {
    hostLayers: layers.hosts,
    defaults: layers.defaults,
    inventory: { file, source: () => Promise.resolve(source) },
    project: {
      file: displayPath(project.config_path, cwd),
      source: () => readConfig(project.config_path, project.config_path),
    },
  });
  if (opts.hosts !== undefined) hosts = selectHosts(hosts, opts.hosts, envName);
  const envWide = resolveDefaults(mergeLayers([settings, layers.defaults]));
  const max_fail = envWide.max_fail as MaxFail;
  const canary = envWide.canary as number;
  return deepFreeze({ name: envName, inventory_path: path, hosts, certificates, max_fail, canary });
}

function validateInventory(
  table: Record<string, unknown>,
  settings: Layer,
  repoDir: string,
): { defaults: Layer; hosts: Layer[]; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const ctx = parseContext(repoDir);
  for (const [key, value] of Object.entries(table)) {
    if (key === "defaults" || key === "hosts") continue;
    const what = `unknown ${isTable(value) ? "table" : "key"} ${JSON.stringify(key)}`;
    const message = Object.hasOwn(TOP_LEVEL_KEYS, key) || SECTIONS.some((s) => s.name === key)
      ? `${what}: put it under [defaults] or in a [[hosts]] table`
      : `${what}${
        suggestion(key, ["defaults", "hosts"])
      }: an inventory has only [defaults] and [[hosts]]`;
    problems.push({ path: [], linePath: [key], message });
  }

  const projectModules = (settings.modules ?? TOP_LEVEL_KEYS.modules.defaultValue) as ModuleRef[];
  let defaults: Layer = {};
  if (table.defaults !== undefined && !isTable(table.defaults)) {
    problems.push({
      path: ["defaults"],
      message: `must be a table: got ${describe(table.defaults)}`,
    });
  } else if (table.defaults !== undefined) {
    const checked = validateLayer({
      scope: "defaults",
      table: table.defaults,
      prefix: ["defaults"],
      ctx,
      inheritedModules: projectModules,
    });
    defaults = checked.layer;
    problems.push(...checked.problems);
  }

  const rawHosts = table.hosts;
  const hosts: Layer[] = [];
  if (rawHosts === undefined || (Array.isArray(rawHosts) && rawHosts.length === 0)) {
    problems.push({
      path: ["hosts"],
      message: "must have at least one [[hosts]] table with name and ssh_hostname: got none",
    });
  } else if (!Array.isArray(rawHosts) || !rawHosts.every(isTable)) {
    problems.push({
      path: ["hosts"],
      message: `must be an array of tables ([[hosts]]): got ${describe(rawHosts)}`,
    });
  } else {
    const seen = new Map<string, number>();
    rawHosts.forEach((raw, i) => {
      const checked = validateLayer({
        scope: "host",
        table: raw,
        prefix: ["hosts", i],
        ctx,
        inheritedModules: (defaults.modules ?? projectModules) as ModuleRef[],
      });
      hosts.push(checked.layer);
      problems.push(...checked.problems);
      const name = checked.layer.name as string | undefined;
      if (name === undefined) return;
      const first = seen.get(name);
      if (first !== undefined) {
        problems.push({
          path: ["hosts", i, "name"],
          message: `must be unique: ${JSON.stringify(name)} is also hosts[${first}].name`,
        });
      } else seen.set(name, i);
    });
  }
  return { defaults, hosts, problems };
}

function selectHosts(
  hosts: HostConfig[],
  wanted: readonly string[],
  envName: string,
): HostConfig[] {
  const names = hosts.map((h) => h.name);
  const unknown = [...new Set(wanted)].filter((n) => !names.includes(n));
  if (unknown.length > 0) {
    const first = unknown[0];
    throw new UsageError(
      `Unknown host${unknown.length > 1 ? "s" : ""} ${quoteList(unknown)}${
        unknown.length === 1 ? suggestion(first, names) : ""
      } in environment ${JSON.stringify(envName)}: it has ${quoteList(names)}`,
    );
  }
  return hosts.filter((h) => wanted.includes(h.name));
}

function unknownEnvironment(
  envName: string,
  environments: readonly string[],
  dir: string,
): ConfigError {
  const name = JSON.stringify(envName);
  if (environments.length === 0) {
    return new ConfigError(
      `Unknown environment ${name}: ${dir}/ has no environments`,
      { hint: `Create ${dir}/${envName}.toml with a [[hosts]] table (name, ssh_hostname).` },
    );
  }
  return new ConfigError(`Unknown environment ${name}: ${dir}/ has ${quoteList(environments)}`);
}

/** Walks up from `cwd`: in each folder D, D/infra/djaploy.toml is the project file. */
export async function findProjectConfig(cwd: string): Promise<string> {
  let dir = cwd;
  while (true) {
    const candidate = join(dir, "infra", "djaploy.toml");
    if (await isFile(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ConfigError(
    `Cannot find infra/djaploy.toml: not in ${cwd} or any folder above it`,
    { hint: "Run djaploy inside the project, or pass --config PATH/TO/djaploy.toml." },
  );
}

/** Environment names: the `.toml` files in infra/inventory/, sorted. */
export async function listEnvironments(inventoryDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(inventoryDir)) {
      if (!entry.name.endsWith(".toml") || entry.name === ".toml") continue;
      if (entry.isFile || (entry.isSymlink && await isFile(join(inventoryDir, entry.name)))) {
        names.push(entry.name.slice(0, -".toml".length));
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return names.sort();
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

async function readConfig(path: string, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(`Cannot read ${file}: no such file`);
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new ConfigError(`Cannot read ${file}: it is a folder, not a djaploy.toml file`);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(`Cannot read ${file}: permission denied`);
    }
    throw e;
  }
}

function parseToml(source: string, file: string): Record<string, unknown> {
  try {
    return parse(source) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    // The message's first line; the rest is the excerpt with a caret, shown as the hint.
    const [message, ...excerpt] = e.message.split("\n");
    const hint = excerpt.join("\n").trim();
    throw new ConfigError(`${file}:${e.line}: ${message}`, hint === "" ? undefined : { hint });
  }
}

function parseContext(repoDir: string): ParseContext {
  return { baseDir: repoDir, home: () => Deno.env.get("HOME") || undefined };
}

/** `path` relative to `cwd` when that is shorter, else absolute. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== "" && rel.length < path.length ? rel : path;
}
