/**
 * `djaploy init`: writes infra/djaploy.toml and the staging and production
 * inventories for the Django project in this folder, from what its files
 * say (manage.py, settings, WSGI application, dependency manager), and a
 * .gitignore line. Existing files are never overwritten: each is named and
 * left alone. `--django-commands` also adds a Django app whose manage.py
 * commands run djaploy.
 */
import type { CommandDef, Parsed } from "../cli_args.ts";
import type { Ui } from "../ui.ts";
import { dirname, join, resolve } from "../paths.ts";
import { detectDjangoProject, type DjangoProject } from "../django_project.ts";
import { initDjaployToml, initInventoryToml, settingsNotes } from "../../templates/init_files.ts";
import { DJANGO_APP, djangoCommandFiles } from "../../templates/django_commands.ts";
import { COMMON_FLAGS } from "./common.ts";

export const INIT_ENVIRONMENTS = ["staging", "production"];
/** What djaploy may leave in a project folder: ignored by git. */
export const GITIGNORE_LINE = ".djaploy/";

export const initCommand: CommandDef = {
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
    ...COMMON_FLAGS.filter((f) => f.name !== "config"),
  ],
};

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

export async function init(ui: Ui, args: Parsed): Promise<number> {
  const root = resolve((args.flags.dir as string | undefined) ?? Deno.cwd());
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
  for (const note of settingsNotes(p)) ui.warn(note);
  const next = [
    "",
    "Next:",
    "  1. Put your servers in infra/inventory/staging.toml and production.toml.",
    `  2. export ${p.projectName.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_SECRET_KEY=...` +
    "   (or change SECRET_KEY in infra/djaploy.toml to a file: or op:// reference)",
    "  3. djaploy verify --env staging && djaploy configure --env staging && djaploy deploy --env staging",
  ];
  if (args.flags["django-commands"]) {
    next.push(
      `  Add "${DJANGO_APP}" to INSTALLED_APPS to get python manage.py deploy, status, ...`,
    );
  }
  for (const line of next) ui.line(line);
  return 0;
}
