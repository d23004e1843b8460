/**
 * `djaploy init`: writes infra/djaploy.toml and the staging and production
 * inventories for the Django project in this folder, from what its files
 * say (manage.py, settings, WSGI application, dependency manager), and a
 * .gitignore line. Existing files are never overwritten: each is named and
 * left alone. `--django-commands` also adds a Django app whose manage.py
 * commands run djaploy.
 */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import { dirname, join, resolve } from "../paths.ts";
import { detectDjangoProject, type DjangoProject } from "../django/project.ts";
import {
  allowedHostsEnv,
  formatSettingsNote,
  initDjaployToml,
  initInventoryToml,
  initProjectEnv,
  settingsNotes,
} from "../../templates/init_files.ts";
import { runDeployCheck } from "../django/check.ts";
import { procfilePlan } from "../../templates/init_procfile.ts";
import { DJANGO_APP, djangoCommandFiles } from "../../templates/django_commands.ts";
import { COMMON_FLAGS } from "./common.ts";

export const INIT_ENVIRONMENTS = ["staging", "production"];
/** What djaploy may leave in a project folder: ignored by git. */
export const GITIGNORE_LINE = ".djaploy/";

export const initCommand = {
  name: "init",
  summary:
    "Set up djaploy in a Django project: infra/djaploy.toml and staging and production inventories from what the project's files say. Never overwrites a file.",
  flags: [
    {
      name: "dir",
      type: "string",
      valueName: "PATH",
      description: "The project's repository root (default: this folder)",
    },
    {
      name: "django-commands",
      type: "boolean",
      description:
        "Also add a Django app whose manage.py commands (deploy, status, ...) run djaploy",
    },
    {
      name: "no-check",
      type: "boolean",
      description: "Do not run manage.py check --deploy on this machine",
    },
    ...COMMON_FLAGS.filter((f) => f.name !== "config"),
  ],
} as const satisfies CommandDef;

export type WriteOutcome = "wrote" | "exists";

export interface InitResult {
  readonly project: DjangoProject;
  /** Paths relative to the root, in the order handled. */
  readonly files: readonly { path: string; outcome: WriteOutcome }[];
  readonly gitignore: "added" | "present";
}

/** Writes `text` to a new file; an existing file is left as it is. */
async function writeNew(path: string, text: string): Promise<WriteOutcome> {
  await Deno.mkdir(dirname(path), { recursive: true });
  try {
    await Deno.writeTextFile(path, text, { createNew: true });
    return "wrote";
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return "exists";
    throw err;
  }
}

/** Adds the line to .gitignore (created if missing) unless it is there. */
async function ensureGitignore(root: string): Promise<"added" | "present"> {
  const path = join(root, ".gitignore");
  const text = await Deno.readTextFile(path).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  });
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines.includes(GITIGNORE_LINE) || lines.includes("/" + GITIGNORE_LINE)) return "present";
  const sep = text === "" || text.endsWith("\n") ? "" : "\n";
  await Deno.writeTextFile(path, `${text}${sep}# djaploy's local files\n${GITIGNORE_LINE}\n`);
  return "added";
}

export async function runInit(
  root: string,
  opts: { djangoCommands?: boolean } = {},
): Promise<InitResult> {
  const project = await detectDjangoProject(root);
  const wanted: [string, string][] = [
    ["infra/djaploy.toml", initDjaployToml(project)],
    ...INIT_ENVIRONMENTS.map((env): [string, string] => [
      `infra/inventory/${env}.toml`,
      initInventoryToml(env, project),
    ]),
  ];
  if (opts.djangoCommands) {
    const manageDir = dirname(project.managePy);
    for (const [path, text] of Object.entries(djangoCommandFiles())) {
      wanted.push([manageDir === "." ? path : `${manageDir}/${path}`, text]);
    }
  }
  const files = [];
  for (const [path, text] of wanted) {
    files.push({ path, outcome: await writeNew(join(root, path), text) });
  }
  return { project, files, gitignore: await ensureGitignore(root) };
}

export async function init(ui: Ui, args: ParsedFor<typeof initCommand>): Promise<number> {
  const root = resolve(args.flags.dir ?? Deno.cwd());
  const r = await runInit(root, { djangoCommands: Boolean(args.flags["django-commands"]) });
  const p = r.project;
  ui.line(
    `found ${p.managePy}` + (p.settingsModule ? `, settings ${p.settingsModule}` : "") +
      (p.wsgiModule ? `, WSGI ${p.wsgiModule}` : "") +
      (p.lockFile ? `, ${p.lockFile} (${p.dependencyManager})` : ""),
  );
  for (const f of r.files) {
    ui.result(f.outcome === "wrote" ? `wrote ${f.path}` : `exists, left alone: ${f.path}`);
  }
  if (r.gitignore === "added") ui.result(`added ${GITIGNORE_LINE} to .gitignore`);
  for (const line of projectReport(p)) ui.line(line);
  const notes = settingsNotes(p);
  for (const note of notes) ui.warn(formatSettingsNote(note));
  if (!args.flags["no-check"]) await deployCheck(ui, p);
  const prefix = p.projectName.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
  const next = [
    "",
    "Next:",
    "  1. Put your servers in infra/inventory/staging.toml and production.toml" +
    (allowedHostsEnv(p)
      ? " (ssh_hostname, and the names the site answers to in [defaults.env])."
      : "."),
    `  2. export ${prefix}_SECRET_KEY=...` +
    "   (or change SECRET_KEY in infra/djaploy.toml to a file: or op:// reference)",
    notes.some((n) => n.change)
      ? `  3. Make the changes to ${p.settingsFile} above, then commit them with infra/: ` +
        "git add -A && git commit -m djaploy (deploy ships the last commit; --local ships the working tree)"
      : "  3. Commit infra/: git add -A && git commit -m djaploy (deploy ships the last commit)",
    "  4. djaploy verify --env staging && djaploy configure --env staging && djaploy deploy --env staging",
  ];
  if (args.flags["django-commands"]) {
    next.push(
      `  Add "${DJANGO_APP}" to INSTALLED_APPS to get python manage.py deploy, status, ...`,
    );
  }
  for (const line of next) ui.line(line);
  return 0;
}

/** What init found besides the settings: Procfile lines, the Python version's source, the health check. */
export function projectReport(p: DjangoProject): string[] {
  const out: string[] = [];
  for (const e of procfilePlan(p.procfile ?? [])) {
    const what = e.kind === "web"
      ? `djaploy runs gunicorn itself: [gunicorn] wsgi_module = "${
        p.wsgiModule ?? "?"
      }" (workers, timeout and extra_args there too)`
      : e.kind === "release" && e.rest === ""
      ? "djaploy runs migrate and collectstatic on every deploy"
      : e.kind === "release"
      ? "djaploy runs migrate and collectstatic on every deploy; the rest goes in [release] " +
        "command, run once per deploy before traffic moves (docs/hooks.md)"
      : e.kind === "process"
      ? `written to [processes] ${e.name} (a systemd unit of the app, restarted on every deploy)`
      : `not written to [processes]: ${e.reason}; add it there under another name`;
    out.push(`Procfile ${e.entry.type}: ${e.entry.command}: ${what}`);
  }
  if (p.pythonVersionSource) {
    out.push(
      `python_version = "${p.pythonVersion}" from ${p.pythonVersionSource}` +
        (p.pythonVersion === "3.11"
          ? " (Debian 12's Python)"
          : ": Debian 12 packages 3.11; for another version set python_compile = true"),
    );
  }
  if (p.uses.djDatabaseUrl) out.push("dj-database-url: DATABASE_URL in [env] chooses the database");
  if (p.uses.whitenoise) {
    out.push(
      "whitenoise: nginx serves /static/ from STATIC_ROOT before a request reaches gunicorn, " +
        "so whitenoise is not needed behind djaploy (keeping it is harmless)",
    );
  }
  out.push(
    p.healthPath
      ? `health check: ${p.healthPath} (found in your urls.py), written to [health_check] path`
      : "health check: no health URL in your urls.py; [health_check] path is left at its " +
        'default (deploys probe "/" and accept 2xx and 3xx)',
  );
  return out;
}

/** manage.py check --deploy here, with the non-secret [env] values the servers will have. */
async function deployCheck(ui: Ui, p: DjangoProject): Promise<void> {
  const env: Record<string, string> = {};
  if (p.settingsModule) env.DJANGO_SETTINGS_MODULE = p.settingsModule;
  for (const v of initProjectEnv(p)) env[v.name] = v.value;
  const hosts = allowedHostsEnv(p);
  if (hosts) env[hosts.name] = "web-1.staging.example.com";
  // A random key: Django warns about short or "django-insecure-" keys, which the servers will not have.
  const key = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16)).join(
    "",
  );
  for (const name of ["SECRET_KEY", "DJANGO_SECRET_KEY"]) env[name] = key;
  const r = await runDeployCheck(p.root, p.managePy, env);
  if (!r.ran) {
    ui.line(`manage.py check --deploy: not run: ${r.reason}`);
    return;
  }
  if (r.issues.length === 0) {
    ui.line(`manage.py check --deploy (${r.python}, with the [env] values above): no issues`);
    return;
  }
  ui.line(
    `manage.py check --deploy (${r.python}: your settings as they are now, with the [env] ` +
      "values above) says (the HTTPS ones apply once you have certificates, docs/certificates.md):",
  );
  // The first sentence: Django's full text is one `manage.py check --deploy` away.
  for (const i of r.issues) {
    ui.line(`  ${i.id}: ${/^.*?\.(?=\s|$)/.exec(i.message)?.[0] ?? i.message}`);
  }
}
