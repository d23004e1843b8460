/**
 * The files `djaploy init` writes: infra/djaploy.toml and one inventory per
 * environment, with comments that say what each key is for. Pure functions
 * of what was detected in the project.
 */
import type { DjangoProject } from "../lib/django/project.ts";
import { procfileToml, releaseRest } from "./init_procfile.ts";

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
    ...procfileToml(p),
    "",
    "[nginx]",
    '# The domains nginx serves, separated by spaces ("_": any). Set it per',
    "# environment in its inventory: [defaults.nginx] server_name = ...",
    'server_name = "_"',
    "",
    "[health_check]",
    ...(p.healthPath
      ? [
        `# Found in your urls.py: a deploy whose new code does not answer it with 200 fails.`,
        `path = ${str(p.healthPath)}`,
      ]
      : [
        "# No health URL found in your urls.py, so path is left at its default: deploys",
        '# probe "/" and accept 2xx and 3xx. A URL that answers 200 once the app and its',
        '# database are up is a better check: add one and set path = "/health/".',
        "# The Host sent is the first server_name that is not _, else the host's",
        "# ssh_hostname: ALLOWED_HOSTS must accept it.",
      ]),
    "",
    "[env]",
    "# The app's environment on the servers (an env file only the app user reads).",
    "# Values can be references, resolved on your machine when you deploy and never",
    '# printed: "env:NAME" (your environment), "file:PATH", "op://vault/item/field".',
  ];
  if (p.settingsModule) lines.push(`DJANGO_SETTINGS_MODULE = ${str(p.settingsModule)}`);
  lines.push(`SECRET_KEY = ${str(`env:${prefix}_SECRET_KEY`)}`);
  const written = initProjectEnv(p);
  for (const v of written) lines.push(`# ${v.why}:`, `${v.name} = ${str(v.value)}`);
  const hostsVar = allowedHostsEnv(p)?.name;
  const others = p.settingsEnv.filter((n) =>
    !SET_BY_DJAPLOY.has(n) && n !== "SECRET_KEY" && n !== "DJANGO_SECRET_KEY" &&
    n !== hostsVar && !written.some((v) => v.name === n)
  );
  if (p.settingsEnv.includes("DJANGO_SECRET_KEY")) {
    lines.push(`DJANGO_SECRET_KEY = ${str(`env:${prefix}_SECRET_KEY`)}`);
  }
  if (others.length) {
    lines.push(`# ${p.settingsFile ?? "Your settings"} also reads these; set the ones you need:`);
    for (const name of others) {
      const debug = p.settings?.debug;
      const value = name === debug?.envVar && debug.offValue !== undefined
        ? debug.offValue
        : SECRET_LIKE.test(name)
        ? `env:${prefix}_${name}`
        : "";
      lines.push(`# ${name} = ${str(value)}`);
    }
  }
  lines.push(...releaseTable(p));
  const notes = settingsNotes(p);
  if (notes.length) {
    lines.push("", "# What your settings should change (djaploy init printed it too):");
    for (const n of notes) {
      lines.push(...formatSettingsNote(n).split("\n").map((l) => `# ${l}`));
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * The Procfile's `release:` line without what djaploy runs itself (migrate,
 * collectstatic): undefined when nothing else is left. A line with `;` or
 * `||` stays whole, its logic is the user's.
 */
export function procfileReleaseCommand(p: Pick<DjangoProject, "procfile">): string | undefined {
  const line = p.procfile?.find((e) => e.type === "release")?.command;
  return line ? releaseRest(line) || undefined : undefined;
}

/** `[release] command` from the Procfile (docs/hooks.md), when it has more than migrate. */
function releaseTable(p: DjangoProject): string[] {
  const command = procfileReleaseCommand(p);
  if (!command) return [];
  return [
    "",
    "[release]",
    "# From the Procfile's release: line (djaploy runs migrate and collectstatic itself):",
    "# run once per deploy in the new release, before traffic moves. See docs/hooks.md.",
    `command = ${str(command)}`,
  ];
}

/** Where init puts the app's data on the servers: the data folder of `app_user = "app"`. */
export const INIT_APP_USER = "app";
export const INIT_DATA_DIR = `/home/${INIT_APP_USER}/data`;
export const INIT_SQLITE_PATH = `${INIT_DATA_DIR}/db.sqlite3`;

/** A change to a settings file: replace lines `line`..`endLine`, or insert after `line`. */
export interface SettingsChange {
  readonly file: string;
  readonly line: number;
  readonly endLine: number;
  readonly mode: "replace" | "insert";
  readonly text: string;
}

/** One thing the settings should change, with the exact change when there is one. */
export interface SettingsNote {
  readonly message: string;
  readonly change?: SettingsChange;
}

/** An [env] value init writes, with why. */
export interface InitEnvValue {
  readonly name: string;
  readonly value: string;
  readonly why: string;
}

function q(p: DjangoProject, s: string): string {
  const quote = p.settings?.quote ?? '"';
  return quote === "'" && !s.includes("'") ? `'${s}'` : JSON.stringify(s);
}

/** The [env] values of djaploy.toml that make the settings safe on a server. */
export function initProjectEnv(p: DjangoProject): InitEnvValue[] {
  const out: InitEnvValue[] = [];
  const f = p.settings;
  const debug = f?.debug;
  if (debug?.hardCodedOn) {
    out.push({
      name: "DEBUG",
      value: "False",
      why: "DEBUG off (after the change to your settings)",
    });
  } else if (debug?.onByDefault && debug.offValue !== undefined) {
    out.push({
      name: debug.envVar ?? "DEBUG",
      value: debug.offValue,
      why: `DEBUG is on unless this says otherwise (${p.settingsFile}:${debug.line})`,
    });
  }
  const db = f?.database;
  if (db?.engine === "sqlite" && (db.insideProject || db.envVar)) {
    if (db.kind === "url") {
      out.push({
        name: db.envVar ?? "DATABASE_URL",
        value: `sqlite:///${INIT_SQLITE_PATH}`,
        why: "the SQLite database in the app's data folder, kept across releases",
      });
    } else {
      out.push({
        name: db.envVar ?? "DATABASE_PATH",
        value: INIT_SQLITE_PATH,
        why: "the SQLite database in the app's data folder, kept across releases",
      });
    }
  }
  return out;
}

/** The variable the settings read ALLOWED_HOSTS from (after init's change), and its separator. */
export function allowedHostsEnv(p: DjangoProject): { name: string; separator: string } | undefined {
  const a = p.settings?.allowedHosts;
  if (!a) return undefined;
  if (a.envVar) return { name: a.envVar, separator: a.separator };
  if (a.hosts && !a.hosts.includes("*")) return { name: "ALLOWED_HOSTS", separator: "," };
  return undefined;
}

/** What the settings should change to work with djaploy's layout, in line order. */
export function settingsNotes(p: DjangoProject): SettingsNote[] {
  const file = p.settingsFile ?? "your settings";
  const f = p.settings;
  const notes: SettingsNote[] = [];
  const change = (
    s: { line: number; endLine: number },
    text: string,
    mode: "replace" | "insert" = "replace",
  ): SettingsChange => ({ file, line: s.line, endLine: s.endLine, mode, text });
  const env = (name: string, fallback?: string) =>
    `os.environ.get(${q(p, name)}${fallback === undefined ? "" : `, ${fallback}`})`;

  const hosts = f?.allowedHosts;
  if (hosts?.hosts && !hosts.hosts.includes("*")) {
    const joined = hosts.hosts.join(",");
    notes.push({
      message: `${file}:${hosts.line}: Read ALLOWED_HOSTS from the environment: it is ` +
        `hard-coded to ${hosts.hosts.join(", ") || "nothing"}, so the site answers 400 Bad ` +
        "Request to your server's name. Each inventory's [defaults.env] ALLOWED_HOSTS (written " +
        "by init) then names what that environment serves.",
      change: change(
        hosts,
        joined
          ? `ALLOWED_HOSTS = ${env("ALLOWED_HOSTS", q(p, joined))}.split(${q(p, ",")})`
          // Unset, as before: an empty list (Django then allows localhost while DEBUG is on).
          : `ALLOWED_HOSTS = [h for h in ${env("ALLOWED_HOSTS", q(p, ""))}.split(${
            q(p, ",")
          }) if h]`,
      ),
    });
  }
  const key = f?.secretKey;
  if (key && !key.fromEnv) {
    notes.push({
      message: `${file}:${key.line}: Read SECRET_KEY from the environment: it is in the ` +
        "repository, so anyone who can read the code can forge sessions and password resets. " +
        "infra/djaploy.toml sets SECRET_KEY in [env] from a secret reference.",
      change: change(
        key,
        `SECRET_KEY = ${env("SECRET_KEY", key.source.replace(/^SECRET_KEY\s*=\s*/, ""))}`,
      ),
    });
  }
  const debug = f?.debug;
  if (debug?.hardCodedOn) {
    notes.push({
      message: `${file}:${debug.line}: Read DEBUG from the environment: it is always on, ` +
        "which shows tracebacks and settings to anyone. infra/djaploy.toml sets " +
        'DEBUG = "False" in [env].',
      change: change(debug, `DEBUG = ${env("DEBUG", q(p, "True"))} == ${q(p, "True")}`),
    });
  } else if (debug?.onByDefault && debug.offValue !== undefined) {
    notes.push({
      message: `${file}:${debug.line}: DEBUG is on unless ${debug.envVar} says otherwise: ` +
        `infra/djaploy.toml sets ${debug.envVar} = ${
          JSON.stringify(debug.offValue)
        } in [env], the value that turns it off.`,
    });
  } else if (debug?.envVar && debug.onByDefault === undefined) {
    notes.push({
      message: `${file}:${debug.line}: Set ${debug.envVar} in [env] to the value that turns ` +
        `DEBUG off: init could not tell it from \`${debug.source.split("\n")[0]}\`.`,
    });
  }
  const db = f?.database;
  if (db?.engine === "sqlite" && db.insideProject) {
    const where = "a SQLite file inside the project folder, so on a server it is inside the " +
      "release: each zero_downtime release would start with a new, empty database, and " +
      "in_place's rsync --delete removes it.";
    if (db.kind === "url") {
      notes.push({
        message: `${file}:${db.line}: The database defaults to ${where} infra/djaploy.toml sets ` +
          `${db.envVar} = "sqlite:///${INIT_SQLITE_PATH}" in [env]: the app's data folder ` +
          `(${INIT_DATA_DIR}), which configure creates and deploys keep.`,
      });
    } else if (db.nameLine) {
      const m = /^(\s*['"]NAME['"]\s*:\s*)(.*?)(,?)\s*$/.exec(db.nameLine.text)!;
      notes.push({
        message: `${file}:${db.nameLine.line}: Read the database's path from the environment: ` +
          `it is ${where} infra/djaploy.toml sets DATABASE_PATH = "${INIT_SQLITE_PATH}" in ` +
          `[env]: the app's data folder, which configure creates and deploys keep.`,
        change: change(
          { line: db.nameLine.line, endLine: db.nameLine.line },
          `${m[1]}${env("DATABASE_PATH", m[2])},`,
        ),
      });
    }
  }
  for (const [name, url] of [["STATIC_ROOT", "/static/"], ["MEDIA_ROOT", "/media/"]] as const) {
    const s = name === "STATIC_ROOT" ? f?.staticRoot : f?.mediaRoot;
    if (s?.fromEnv || (!f && (name === "STATIC_ROOT" ? p.staticFromEnv : p.mediaFromEnv))) {
      continue;
    }
    const why = `djaploy sets it to the folder nginx serves ${url} from.`;
    if (s) {
      const old = s.source.replace(new RegExp(`^${name}\\s*=\\s*`), "");
      notes.push({
        message: `${file}:${s.line}: Read ${name} from the environment: ${why}`,
        change: change(s, `${name} = ${env(name, old)}`),
      });
    } else if (f) {
      const fallback = name === "MEDIA_ROOT" ? q(p, "") : undefined;
      notes.push({
        message: `${file}: Read ${name} from the environment: ${why}`,
        change: change(
          { line: f.lineCount, endLine: f.lineCount },
          `${name} = ${env(name, fallback)}`,
          "insert",
        ),
      });
    } else {
      notes.push({ message: `Read ${name} from the environment in ${file}: ${why}` });
    }
  }
  if (f && !f.importsOs && notes.some((n) => n.change?.text.includes("os.environ"))) {
    notes.unshift({
      message: `${file}: Import os, which the changes below use.`,
      change: change({ line: f.lastImportLine, endLine: f.lastImportLine }, "import os", "insert"),
    });
  }
  const lineOf = (n: SettingsNote) =>
    n.change?.mode === "insert" && n.message.startsWith(`${file}: Import os`)
      ? 0
      : Number(/^[^:]+:(\d+):/.exec(n.message)?.[1] ?? n.change?.line ?? 1e9);
  notes.sort((a, b) => lineOf(a) - lineOf(b));
  if (p.staticUrl && p.staticUrl !== "/static/" && !/^https?:/.test(p.staticUrl)) {
    notes.push({
      message: `STATIC_URL is ${p.staticUrl}, but nginx serves static files at /static/.`,
    });
  }
  if (p.mediaUrl && p.mediaUrl !== "/media/" && !/^https?:/.test(p.mediaUrl)) {
    notes.push({ message: `MEDIA_URL is ${p.mediaUrl}, but nginx serves media files at /media/.` });
  }
  return notes;
}

/** A note as init prints it: the message, then the change, indented by four spaces. */
export function formatSettingsNote(n: SettingsNote): string {
  const c = n.change;
  if (!c) return n.message;
  const verb = c.mode === "insert"
    ? c.line === 0 ? "Insert before line 1:" : `Insert after line ${c.line}:`
    : c.endLine > c.line
    ? `Replace lines ${c.line}-${c.endLine} with:`
    : `Replace line ${c.line} with:`;
  return `${n.message} ${verb}\n${c.text.split("\n").map((l) => `    ${l}`).join("\n")}`;
}

export function initInventoryToml(env: string, p: DjangoProject): string {
  const host = `web-1.${env}.example.com`;
  const hosts = allowedHostsEnv(p);
  const envTable = hosts
    ? `
[defaults.env]
# The names and addresses this environment's site answers to (your settings'
# ALLOWED_HOSTS, "${hosts.separator}"-separated): your domain, or the server's address
# (ssh_hostname below) while it has none. Any other name gets 400 Bad Request.
${hosts.name} = ${str(host)}
`
    : "";
  return `# The ${env} environment of ${p.projectName}: \`djaploy deploy --env ${env}\`.
# Written by \`djaploy init\`. Any key of djaploy.toml can be set in [defaults]
# (every host here) or in one [[hosts]] table (that host).

[defaults]
# deployment_strategy = "zero_downtime"

# [defaults.nginx]
# server_name = "${env === "production" ? "" : `${env}.`}example.com"
${envTable}
# One [[hosts]] table per server. Put your server's address here.
[[hosts]]
name = "web-1"
ssh_hostname = "${host}"
# ssh_port = 22
# ssh_key = "~/.ssh/id_ed25519"
`;
}
