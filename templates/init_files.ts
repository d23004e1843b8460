/**
 * The files `djaploy init` writes: infra/djaploy.toml and one inventory per
 * environment, with comments that say what each key is for. Pure functions
 * of what was detected in the project.
 */
import type { DjangoProject } from "../lib/django_project.ts";

/** A TOML basic string (JSON strings are valid TOML basic strings). */
const str = (s: string) => JSON.stringify(s);

/** djaploy sets these on the server; the settings should read them. */
const SET_BY_DJAPLOY = new Set(["STATIC_ROOT", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE"]);
const SECRET_LIKE = /KEY|SECRET|PASSWORD|PASSWD|TOKEN|DSN|CREDENTIALS|DATABASE_URL|_URL$/;

function envPrefix(p: DjangoProject): string {
  return p.projectName.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
}

export function initDjaployToml(p: DjangoProject): string {
  const prefix = envPrefix(p);
  const lines = [
    `# djaploy's settings for ${p.projectName}, written by \`djaploy init\`.`,
    "# Every key, its default and meaning: docs/configuration.md in djaploy's repository.",
    "# Environments are the files in infra/inventory/ (`djaploy deploy --env production`).",
    `project_name = ${str(p.projectName)}`,
    "# manage.py's path from the repository root.",
    `manage_py = ${str(p.managePy)}`,
    "# The Python of the app's virtualenv on the servers.",
    `python_version = ${str(p.pythonVersion ?? "3.11")}`,
    "# The unix user the app runs as (created by `djaploy configure`), and the user",
    "# ssh logs in as, which needs passwordless sudo.",
    'app_user = "app"',
    'ssh_user = "deploy"',
    "# in_place: restart where it runs (simplest); zero_downtime: start the new",
    "# release next to the old one, switch once healthy; bluegreen: two slots,",
    "# `djaploy activate` switches. See docs/strategies.md.",
    'deployment_strategy = "in_place"',
    'modules = ["core", "nginx", "systemd"]',
    "",
    "[dependencies]",
    p.dependencyManager
      ? `# Found ${p.lockFile}.\nmanager = ${str(p.dependencyManager)}`
      : "# No poetry.lock, uv.lock or requirements.txt found: add one, or name the manager.\n" +
        '# manager = "pip"',
    "",
    "[gunicorn]",
    p.wsgiModule
      ? `# From ${p.wsgiSource}.\nwsgi_module = ${str(p.wsgiModule)}`
      : "# No WSGI_APPLICATION found: name the WSGI callable as module:attribute.\n" +
        `# wsgi_module = "${p.projectName}.wsgi:application"`,
    "workers = 2",
    "",
    "[nginx]",
    '# The domains nginx serves, separated by spaces ("_": any). Set it per',
    "# environment in its inventory: [defaults.nginx] server_name = ...",
    'server_name = "_"',
    "",
    "[health_check]",
    '# A path that answers 200 once the app is up (e.g. "/health/"): a deploy',
    "# whose app does not answer it fails. Empty: / is checked, and any 2xx or",
    "# 3xx answer counts. The Host sent is the first server_name that is not _,",
    "# else the host's ssh_hostname: ALLOWED_HOSTS must accept it.",
    'path = ""',
    "",
    "[env]",
    "# The app's environment on the servers (an env file only the app user reads).",
    "# Values can be references, resolved on your machine when you deploy and never",
    '# printed: "env:NAME" (your environment), "file:PATH", "op://vault/item/field".',
  ];
  if (p.settingsModule) lines.push(`DJANGO_SETTINGS_MODULE = ${str(p.settingsModule)}`);
  lines.push(`SECRET_KEY = ${str(`env:${prefix}_SECRET_KEY`)}`);
  const others = p.settingsEnv.filter((n) =>
    !SET_BY_DJAPLOY.has(n) && n !== "SECRET_KEY" && n !== "DJANGO_SECRET_KEY"
  );
  if (p.settingsEnv.includes("DJANGO_SECRET_KEY")) {
    lines.push(`DJANGO_SECRET_KEY = ${str(`env:${prefix}_SECRET_KEY`)}`);
  }
  if (others.length) {
    lines.push(`# ${p.settingsFile ?? "Your settings"} also reads these; set the ones you need:`);
    for (const name of others) {
      const value = SECRET_LIKE.test(name) ? `env:${prefix}_${name}` : "";
      lines.push(`# ${name} = ${str(value)}`);
    }
  }
  const notes = settingsNotes(p);
  if (notes.length) lines.push("", ...notes.map((n) => `# Note: ${n}`));
  return lines.join("\n") + "\n";
}

/** What the settings should change to work with djaploy's layout, if anything. */
export function settingsNotes(p: DjangoProject): string[] {
  const file = p.settingsFile ?? "your settings";
  const notes: string[] = [];
  if (!p.staticFromEnv) {
    notes.push(
      `${file} should read STATIC_ROOT from the environment (os.environ.get("STATIC_ROOT")): ` +
        "djaploy sets it to the folder nginx serves /static/ from.",
    );
  }
  if (!p.mediaFromEnv) {
    notes.push(
      `${file} should read MEDIA_ROOT from the environment (os.environ.get("MEDIA_ROOT")): ` +
        "djaploy sets it to the folder nginx serves /media/ from.",
    );
  }
  if (p.staticUrl && p.staticUrl !== "/static/" && !/^https?:/.test(p.staticUrl)) {
    notes.push(`STATIC_URL is ${p.staticUrl}, but nginx serves static files at /static/.`);
  }
  if (p.mediaUrl && p.mediaUrl !== "/media/" && !/^https?:/.test(p.mediaUrl)) {
    notes.push(`MEDIA_URL is ${p.mediaUrl}, but nginx serves media files at /media/.`);
  }
  return notes;
}

export function initInventoryToml(env: string, p: DjangoProject): string {
  return `# The ${env} environment of ${p.projectName}: \`djaploy deploy --env ${env}\`.
# Written by \`djaploy init\`. Any key of djaploy.toml can be set in [defaults]
# (every host here) or in one [[hosts]] table (that host).

[defaults]
# deployment_strategy = "zero_downtime"

# [defaults.nginx]
# server_name = "${env === "production" ? "" : `${env}.`}example.com"

# One [[hosts]] table per server. Put your server's address here.
[[hosts]]
name = "web-1"
ssh_hostname = "web-1.${env}.example.com"
# ssh_port = 22
# ssh_key = "~/.ssh/id_ed25519"
`;
}
