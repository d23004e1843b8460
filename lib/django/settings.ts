/**
 * What a settings file says about the things that break a first deploy:
 * ALLOWED_HOSTS, DEBUG's default, where the database lives, STATIC_ROOT and
 * MEDIA_ROOT, and `import os`. Pure functions of the file's text; the
 * advice built from them is in templates/init_files.ts.
 */

/** A top-level assignment: its lines (1-based, inclusive) and its text. */
export interface Statement {
  readonly line: number;
  readonly endLine: number;
  readonly source: string;
}

export interface AllowedHostsFacts extends Statement {
  /** The environment variable the statement reads, if any. */
  readonly envVar?: string;
  /** The hosts of a hard-coded list. */
  readonly hosts?: readonly string[];
  /** How the settings split the variable's value. */
  readonly separator: string;
}

export interface DebugFacts extends Statement {
  readonly envVar?: string;
  /** Whether DEBUG is on when the variable is not set; undefined: could not tell. */
  readonly onByDefault?: boolean;
  /** A value of the variable that turns DEBUG off; undefined: could not tell. */
  readonly offValue?: string;
  /** `DEBUG = True`. */
  readonly hardCodedOn: boolean;
}

export interface DatabaseFacts extends Statement {
  /** `url`: a database URL (dj-database-url, django-environ); `settings`: a NAME in DATABASES. */
  readonly kind: "url" | "settings";
  readonly engine: "sqlite" | "other";
  /** The variable read for the URL or the SQLite path, if any. */
  readonly envVar?: string;
  /** The SQLite file is BASE_DIR/... or a relative path (inside the release). */
  readonly insideProject: boolean;
  /** The `"NAME": ...` line of a hard-coded SQLite path. */
  readonly nameLine?: { readonly line: number; readonly text: string };
}

export interface PathSettingFacts extends Statement {
  readonly fromEnv: boolean;
}

export interface SettingsFacts {
  readonly lineCount: number;
  readonly importsOs: boolean;
  /** The last line of the imports at the top (0 when there are none). */
  readonly lastImportLine: number;
  /** The quote the file mostly uses. */
  readonly quote: "'" | '"';
  readonly allowedHosts?: AllowedHostsFacts;
  readonly debug?: DebugFacts;
  readonly database?: DatabaseFacts;
  readonly staticRoot?: PathSettingFacts;
  readonly mediaRoot?: PathSettingFacts;
  /** `SECRET_KEY = ...`; fromEnv when it reads a variable. */
  readonly secretKey?: PathSettingFacts & { readonly envVar?: string };
  readonly usesDjDatabaseUrl: boolean;
  readonly usesWhitenoise: boolean;
}

/** Python code with string literals and comments blanked (same length), for bracket counting. */
function blankStrings(line: string): string {
  return line.replace(/(['"])(?:\\.|(?!\1).)*\1/g, (m) => " ".repeat(m.length)).replace(
    /#.*$/,
    "",
  );
}

/** The first top-level `NAME = ...` statement, with its continuation lines. */
export function findAssignment(lines: readonly string[], name: string): Statement | undefined {
  const start = lines.findIndex((l) => new RegExp(`^${name}\\s*=`).test(l));
  if (start === -1) return undefined;
  let depth = 0;
  let end = start;
  for (let i = start; i < lines.length; i++) {
    for (const ch of blankStrings(lines[i])) {
      if ("([{".includes(ch)) depth++;
      else if (")]}".includes(ch)) depth--;
    }
    end = i;
    if (depth <= 0 && !lines[i].trimEnd().endsWith("\\")) break;
  }
  return {
    line: start + 1,
    endLine: end + 1,
    source: lines.slice(start, end + 1).join("\n"),
  };
}

const ENV_CALL =
  /(?:os\.environ\.get|os\.getenv|env(?:\.\w+)?|config|\w*env\w*)\(\s*['"]([A-Za-z_]\w*)['"]|os\.environ\[\s*['"]([A-Za-z_]\w*)['"]\s*\]|['"]([A-Za-z_]\w*)['"]\s+in\s+os\.environ/;

/** The environment variable a statement reads first, if any. */
export function envVarOf(source: string): string | undefined {
  const m = ENV_CALL.exec(source);
  return m ? m[1] ?? m[2] ?? m[3] : undefined;
}

/** Every string literal's content. */
function stringLiterals(source: string): string[] {
  return [...source.matchAll(/(['"])((?:\\.|(?!\1).)*)\1/g)].map((m) => m[2]);
}

/** A Python literal as the string os.environ would hold; undefined for None or a missing default. */
function pyLiteral(text: string | undefined): { value?: string; truthy: boolean } | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  const s = /^(['"])(.*)\1$/.exec(t);
  if (s) return { value: s[2], truthy: s[2] !== "" };
  if (t === "True") return { value: "True", truthy: true };
  if (t === "False") return { value: "False", truthy: false };
  if (t === "None") return { truthy: false };
  if (/^-?\d+$/.test(t)) return { value: t, truthy: Number(t) !== 0 };
  return undefined;
}

/** The default given where `name` is read: `get("N", D)`, `default=D`. */
function defaultOf(source: string, name: string): string | undefined {
  const kw = /default\s*=\s*('[^']*'|"[^"]*"|True|False|None|-?\d+)/.exec(source);
  if (kw) return kw[1];
  const pos = new RegExp(
    `\\(\\s*['"]${name}['"]\\s*,\\s*('[^']*'|"[^"]*"|True|False|None|-?\\d+)\\s*[,)]`,
  ).exec(source);
  return pos?.[1];
}

/** The value of a variable that makes a truth test fail, preferring "False". */
function valueNotIn(values: readonly string[], lower: boolean): string {
  const seen = values.map((v) => (lower ? v.toLowerCase() : v));
  for (const candidate of ["False", "0", "no", "off"]) {
    if (!seen.includes(lower ? candidate.toLowerCase() : candidate)) return candidate;
  }
  return "off";
}

/** How DEBUG follows its variable: on by default? Which value turns it off? */
export function analyseDebug(stmt: Statement): DebugFacts {
  const rhs = stmt.source.replace(/^DEBUG\s*=\s*/, "").trim();
  const base = { ...stmt, hardCodedOn: false };
  if (rhs === "True") return { ...base, hardCodedOn: true, onByDefault: true };
  if (rhs === "False") return { ...base, onByDefault: false };
  const envVar = envVarOf(rhs);
  if (!envVar) return base;
  if (new RegExp(`['"]${envVar}['"]\\s+in\\s+os\\.environ`).test(rhs)) {
    return { ...base, envVar, onByDefault: false };
  }
  const d = pyLiteral(defaultOf(rhs, envVar));
  const lower = /\.lower\(\)/.test(rhs);
  const norm = (
    v: string | undefined,
  ) => (v === undefined ? undefined : lower ? v.toLowerCase() : v);
  const cmp = /(==|!=)\s*(['"])(.*?)\2/.exec(rhs);
  if (cmp) {
    const x = norm(cmp[3])!;
    const equal = d?.value !== undefined && norm(d.value) === x;
    if (cmp[1] === "==") {
      return { ...base, envVar, onByDefault: equal, offValue: valueNotIn([cmp[3]], lower) };
    }
    return { ...base, envVar, onByDefault: !equal, offValue: cmp[3] };
  }
  const member = /(not\s+)?\bin\s*[([{]([^)\]}]*)[)\]}]/.exec(rhs);
  if (member) {
    const set = stringLiterals(member[2]);
    const inSet = d?.value !== undefined && set.map((v) => norm(v)).includes(norm(d.value));
    if (member[1]) return { ...base, envVar, onByDefault: !inSet, offValue: set[0] };
    return { ...base, envVar, onByDefault: inSet, offValue: valueNotIn(set, lower) };
  }
  if (/\bint\(/.test(rhs)) {
    const on = d?.value !== undefined ? Number(d.value) !== 0 : false;
    return { ...base, envVar, onByDefault: on, offValue: "0" };
  }
  // env.bool, cast=bool, strtobool and helpers named like them parse "False".
  if (/bool/i.test(rhs) && !/\bbool\(\s*os\./.test(rhs)) {
    return { ...base, envVar, onByDefault: d?.truthy ?? false, offValue: "False" };
  }
  // bool(os.environ.get("N", D)) or a bare get: any non-empty string is true.
  if (/^(bool\()?\s*os\.(environ\.get|getenv)\(/.test(rhs)) {
    return { ...base, envVar, onByDefault: d?.truthy ?? false, offValue: "" };
  }
  return { ...base, envVar };
}

function analyseAllowedHosts(stmt: Statement): AllowedHostsFacts {
  const envVar = envVarOf(stmt.source);
  const split = /\.split\(\s*(?:(['"])(.*?)\1)?\s*\)/.exec(stmt.source);
  const separator = split ? (split[2] ?? " ") : ",";
  if (envVar) return { ...stmt, envVar, separator };
  const rhs = stmt.source.replace(/^ALLOWED_HOSTS\s*=\s*/, "").split("\n")
    .map((l) => l.replace(/#[^'"]*$/, "")).join("\n").trim();
  if (/^[[(]/.test(rhs) && /^[[(]\s*(?:(['"]).*?\1\s*,?\s*)*[\])]$/s.test(rhs)) {
    return { ...stmt, hosts: stringLiterals(rhs), separator };
  }
  return { ...stmt, separator };
}

const SQLITE_INSIDE =
  /BASE_DIR|PROJECT_ROOT|__file__|sqlite:\/\/\/(?!\/)|^['"][^/'"]+\.sqlite3?['"]/;

function analyseDatabase(stmt: Statement, lines: readonly string[]): DatabaseFacts {
  const src = stmt.source;
  const urlCall = /dj_database_url\.(config|parse)\(|\benv\.db(?:_url)?\(|\bdb_url\(/.exec(src);
  const sqlite = /sqlite/i.test(src);
  if (urlCall) {
    const envKw = /\benv\s*=\s*['"](\w+)['"]/.exec(src)?.[1];
    const envVar = envKw ?? envVarOf(src) ?? "DATABASE_URL";
    const def = /default\s*=\s*(.+)/.exec(src)?.[1] ?? "";
    return {
      ...stmt,
      kind: "url",
      engine: sqlite ? "sqlite" : "other",
      envVar,
      insideProject: sqlite && SQLITE_INSIDE.test(def),
    };
  }
  const nameIdx = lines.slice(stmt.line - 1, stmt.endLine).findIndex((l) =>
    /^\s*['"]NAME['"]\s*:/.test(l)
  );
  const nameLine = nameIdx === -1
    ? undefined
    : { line: stmt.line + nameIdx, text: lines[stmt.line - 1 + nameIdx] };
  const value = nameLine?.text.replace(/^\s*['"]NAME['"]\s*:\s*/, "").replace(/,\s*$/, "") ?? "";
  const envVar = envVarOf(value);
  return {
    ...stmt,
    kind: "settings",
    engine: sqlite ? "sqlite" : "other",
    envVar,
    insideProject: sqlite && !envVar && SQLITE_INSIDE.test(value.trim()),
    nameLine,
  };
}

function secretKey(lines: readonly string[]): SettingsFacts["secretKey"] {
  const s = findAssignment(lines, "SECRET_KEY");
  if (!s) return undefined;
  const envVar = envVarOf(s.source);
  return { ...s, fromEnv: envVar !== undefined, envVar };
}

/** Reads the facts above from a settings file's text. */
export function analyseSettings(text: string): SettingsFacts {
  const lines = text.split("\n");
  let lastImportLine = 0;
  for (let i = 0; i < lines.length; i++) {
    if (/^(import|from)\s/.test(lines[i])) lastImportLine = i + 1;
    else if (/^[A-Z_][A-Z0-9_]*\s*=/.test(lines[i])) break;
  }
  const singles = (text.match(/'/g) ?? []).length;
  const doubles = (text.match(/"/g) ?? []).length;
  const allowed = findAssignment(lines, "ALLOWED_HOSTS");
  const debug = findAssignment(lines, "DEBUG");
  const db = findAssignment(lines, "DATABASES");
  const pathSetting = (name: string): PathSettingFacts | undefined => {
    const s = findAssignment(lines, name);
    return s ? { ...s, fromEnv: new RegExp(`['"]${name}['"]`).test(s.source) } : undefined;
  };
  return {
    lineCount: text.endsWith("\n") ? lines.length - 1 : lines.length,
    importsOs: /^import os\b|^import .*\bos\b(?!\.)|^from os import environ/m.test(text),
    lastImportLine,
    quote: singles > doubles ? "'" : '"',
    allowedHosts: allowed ? analyseAllowedHosts(allowed) : undefined,
    debug: debug ? analyseDebug(debug) : undefined,
    database: db ? analyseDatabase(db, lines) : undefined,
    staticRoot: pathSetting("STATIC_ROOT"),
    mediaRoot: pathSetting("MEDIA_ROOT"),
    secretKey: secretKey(lines),
    usesDjDatabaseUrl: /^\s*(import dj_database_url|from dj_database_url import)/m.test(text),
    usesWhitenoise: /whitenoise/.test(text),
  };
}

/** A line of a Procfile: `web: gunicorn app.wsgi`. */
export interface ProcfileEntry {
  readonly type: string;
  readonly command: string;
}

export function parseProcfile(text: string): ProcfileEntry[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const m = /^([A-Za-z0-9_-]+):\s*(.+?)\s*$/.exec(line);
    return m ? [{ type: m[1], command: m[2] }] : [];
  });
}

/** gunicorn's WSGI app in a Procfile's web command: `gunicorn x.wsgi` -> `x.wsgi:application`. */
export function procfileWsgi(command: string): string | undefined {
  const m = /\bgunicorn\b(?:\s+-\S+(?:\s+[^-\s]\S*)?)*?\s+([A-Za-z_][\w.]*)(?::([A-Za-z_]\w*))?/
    .exec(command);
  return m ? `${m[1]}:${m[2] ?? "application"}` : undefined;
}

/** A health endpoint in urls.py text: `path("health/", ...)`, `re_path(r"^healthz$")`. */
export function parseHealthPath(urls: string): string | undefined {
  const m =
    /\b(?:re_)?path\(\s*r?['"]\^?((?:health|healthz|healthcheck|health-check|ping|up|status)\/?)\$?['"]/
      .exec(urls);
  return m ? `/${m[1]}` : undefined;
}

/** runtime.txt (`python-3.11.4`) or .python-version (`3.11.4`): `3.11`. */
export function parsePythonVersion(text: string): string | undefined {
  return /^(?:python-)?(3\.\d+)/.exec(text.trim())?.[1];
}
