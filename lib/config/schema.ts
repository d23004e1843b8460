/**
 * The configuration schema: every key djaploy reads, with its check, its
 * built-in default, where it may be written and what it means. The loader
 * validates against it and docs/configuration.md is generated from it, so a
 * key is added here and nowhere else.
 */
import { ipVersion } from "./ip.ts";
import { parseSecretRef, type SecretRef } from "../secrets/secret.ts";
import { DEPENDENCY_MANAGERS, ISSUE_ON, STRATEGIES } from "./types.ts";
import { DOMAIN_KEYS_DOC, parseCertDomains } from "./cert_domains.ts";
import { parseModule } from "./module_ref.ts";
import {
  arrayOf,
  boolean,
  describe,
  integer,
  Invalid,
  matching,
  oneOf,
  type ParseContext,
  positiveNumber,
  quoteList,
  refine,
  string,
} from "./validators.ts";
import { releaseSections } from "./release_schema.ts";
import { parseMaxFail } from "./max_fail.ts";
import { parseHardening, PROTECTION_DOC } from "./hardening.ts";
import { operationsSections, PYTHON_SOURCE_KEYS } from "./operations_schema.ts";
import { PROCESSES_SECTION, SCHEDULE_KEY } from "./processes_schema.ts";
import { HOOKS_SECTION } from "./hooks_schema.ts";
import { ARTIFACT_SECTION } from "./artifact_schema.ts";
import { DJANGO_SECTION } from "./django_schema.ts";

export type { KeySpec, Scope, SectionSpec } from "./spec.ts";
import type { KeySpec, Scope, SectionSpec } from "./spec.ts";
export const ALL_SCOPES: readonly Scope[] = ["project", "defaults", "host"];
export const SCOPE_LABELS: Readonly<Record<Scope, string>> = {
  project: "djaploy.toml",
  defaults: "inventory [defaults]",
  host: "inventory [[hosts]]",
};

export { moduleTableName } from "./module_ref.ts";
export type { ParseContext } from "./validators.ts";

/** The modules a project runs when it does not list any. */
export const DEFAULT_MODULES: readonly string[] = ["core", "nginx", "systemd"];
export const BUILTIN_MODULES: readonly string[] = [
  ...DEFAULT_MODULES,
  "certs",
  "cert_renewal",
  "rclone",
  "borg",
  "litestream",
  "tailscale",
];

/** A relative path inside the project: no leading "/", no ".." segment. */
export const RELATIVE_PATH = /^(?!\/)(?!(.*\/)?\.\.(\/|$))[^\0]+$/;
export const SAFE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
export const SERVICE_NAME = /^[a-z][a-z0-9_@.-]{0,62}$/;
export const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * ssh options djaploy sets itself (its multiplexing, prompts and host-key
 * handling depend on them), each with the config key to use instead, if any.
 */
export const MANAGED_SSH_OPTIONS: Readonly<Record<string, string | undefined>> = {
  BatchMode: undefined,
  ControlMaster: undefined,
  ControlPath: undefined,
  ControlPersist: undefined,
  StrictHostKeyChecking: "strict_host_key_checking",
  UserKnownHostsFile: "known_hosts_file",
  HostName: "ssh_hostname",
  User: "ssh_user",
  Port: "ssh_port",
  IdentityFile: "ssh_key",
  ForwardAgent: undefined,
};

const HOST_KEY_REASON = "it changes how the server's host key is checked, which is what stops a " +
  "man in the middle (use known_hosts_file and strict_host_key_checking)";

/** ssh options refused outright, each with the reason a user is told. */
export const REFUSED_SSH_OPTIONS: Readonly<Record<string, string>> = {
  GlobalKnownHostsFile: HOST_KEY_REASON,
  KnownHostsCommand: HOST_KEY_REASON,
  HostKeyAlias: HOST_KEY_REASON,
  CheckHostIP: HOST_KEY_REASON,
  VerifyHostKeyDNS: HOST_KEY_REASON,
  LocalCommand: "it runs a command on this machine after every login",
  PermitLocalCommand: "it lets LocalCommand run a command on this machine after every login",
  RemoteCommand: "it replaces the commands djaploy sends",
};

/** One hop of ProxyJump: `[user@]host[:port]`, optionally as `ssh://`; IPv6 in brackets. */
export const JUMP_HOP =
  /^(ssh:\/\/)?([a-z_][a-z0-9_.-]*@)?([A-Za-z0-9][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\])(:\d{1,5})?$/;

/** One ssh `-o` option: `Key=Value`, not one djaploy manages. */
function sshOption(value: unknown): string {
  const s = matching(/^[A-Za-z][A-Za-z0-9]*=\S.*$/)(value);
  const key = s.slice(0, s.indexOf("="));
  const managed = Object.keys(MANAGED_SSH_OPTIONS).find((k) =>
    k.toLowerCase() === key.toLowerCase()
  );
  if (managed) {
    const instead = MANAGED_SSH_OPTIONS[managed];
    const why = managed === "ForwardAgent"
      ? "djaploy sets it to no (a server must not use your agent's keys)"
      : `djaploy sets it${instead ? ` (use ${instead})` : ""}`;
    throw new Invalid(`must not set ${managed}: ${why}: got ${describe(s)}`);
  }
  const refused = Object.keys(REFUSED_SSH_OPTIONS).find((k) =>
    k.toLowerCase() === key.toLowerCase()
  );
  if (refused) {
    throw new Invalid(
      `must not set ${refused}: ${REFUSED_SSH_OPTIONS[refused]}: got ${describe(s)}`,
    );
  }
  if (key.toLowerCase() === "proxyjump") {
    const value = s.slice(s.indexOf("=") + 1);
    if (value !== "none" && !value.split(",").every((hop) => JUMP_HOP.test(hop))) {
      throw new Invalid(
        `must be ProxyJump=[user@]host[:port], several separated by commas ` +
          `(an IPv6 address in brackets): got ${describe(s)}`,
      );
    }
  }
  return s;
}

/** ssh_options as a whole: ProxyJump and ProxyCommand exclude each other. */
function sshOptions(value: unknown): string[] {
  const options = arrayOf(sshOption)(value);
  const keyOf = (o: string) => o.slice(0, o.indexOf("=")).toLowerCase();
  const jump = options.findIndex((o) => keyOf(o) === "proxyjump");
  const command = options.findIndex((o) => keyOf(o) === "proxycommand");
  if (jump !== -1 && command !== -1) {
    throw new Invalid(
      `must not set both ProxyJump and ProxyCommand: ssh would use only the first: got ${
        describe(options[Math.max(jump, command)])
      }`,
      [Math.max(jump, command)],
    );
  }
  return options;
}

/** known_hosts_file: a path; /dev/null (any host key accepted, every time) is refused. */
function knownHostsFile(value: unknown, ctx: ParseContext): string {
  const path = pathWithHome(value, ctx);
  if (path.replace(/\/+$/, "") === "/dev/null") {
    throw new Invalid(
      "must be a file that keeps host keys: /dev/null forgets every key, so any server, a man " +
        `in the middle included, would be accepted: got ${describe(path)}`,
    );
  }
  return path;
}

function expandHome(path: string, ctx: ParseContext): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const home = ctx.home();
  if (!home) throw new Invalid(`cannot expand "~": HOME is not set: got ${describe(path)}`);
  return home + path.slice(1);
}

const pathWithHome = (value: unknown, ctx: ParseContext) => expandHome(string()(value), ctx);

const relativePath = refine(string(), (s) => {
  if (s === "" || s.startsWith("/") || s.split("/").includes("..")) {
    throw new Invalid(
      `must be a relative path inside the project, without "..": got ${describe(s)}`,
    );
  }
  return s;
});

/** One label of a domain name. */
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** An nginx server name: a name (`example.com`, `localhost`), `*.example.com`, `.example.com` or `example.*`. */
const SERVER_NAME = new RegExp(`^(?:\\*\\.|\\.)?${LABEL}(?:\\.${LABEL})*(?:\\.\\*)?$`);

const serverNames = refine(string(), (s) => {
  const bad = s.split(" ").find((word) =>
    !(word === "_" || (word.length <= 253 && SERVER_NAME.test(word)) ||
      (/^~\S+$/.test(word) && !/[;{}"'\\]/.test(word)))
  );
  if (bad !== undefined) {
    throw new Invalid(
      "must be nginx server names separated by single spaces: domain names (example.com), " +
        'wildcards (*.example.com, .example.com, example.*), "_" or a ~regex without ; { } \\ ' +
        `or quotes: got ${describe(s)}`,
    );
  }
  return s;
});

const SSH_LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const SSH_NAME = new RegExp(`^${SSH_LABEL}(?:\\.${SSH_LABEL})*\\.?$`);

/** health_check.host, the probe's Host header: a DNS name, an IPv4 or [IPv6] address, and a port. */
function healthHost(value: unknown): string {
  const s = string()(value);
  const m = s.match(/^(.*?)(?::(\d{1,5}))?$/)!;
  const name = m[1];
  const ok = (name.length <= 253 && new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`).test(name)) ||
    ipVersion(name) === 4 ||
    (name.startsWith("[") && name.endsWith("]") && ipVersion(name.slice(1, -1)) === 6);
  if (!ok || (m[2] !== undefined && Number(m[2]) > 65535)) {
    throw new Invalid(
      "must be a Host header: a DNS name (www.example.com), an IPv4 address or an IPv6 address " +
        `in brackets, optionally with :port: got ${describe(s)}`,
    );
  }
  return s;
}

/** ssh_hostname: a DNS name, an IPv4 address or an IPv6 address (bare, with an optional %zone). */
function sshHostname(value: unknown): string {
  const s = string()(value);
  // Names from ~/.ssh/config (Host my_server) may hold "_".
  const dns = s.length <= 253 && SSH_NAME.test(s);
  const [address, zone] = s.split("%", 2);
  const ip = ipVersion(address) === 4 && zone === undefined ||
    ipVersion(address) === 6 && (zone === undefined || /^[A-Za-z0-9_.-]+$/.test(zone));
  if (!dns && !ip) {
    throw new Invalid(
      "must be a DNS name (web1.example.com), an IPv4 address or an IPv6 address without " +
        `brackets (2001:db8::1): got ${describe(s)}`,
    );
  }
  return s;
}

const healthPath = refine(string(), (s) => {
  if (s !== "" && (!s.startsWith("/") || /\s/.test(s))) {
    throw new Invalid(
      `must be empty or a path starting with "/" without spaces: got ${describe(s)}`,
    );
  }
  return s;
});

/**
 * The default Host header of the health check: the first concrete nginx
 * server name, else the address djaploy reaches the host at (ssh_hostname),
 * which is what a visitor without a domain types.
 */
export function defaultHealthHost(serverName: string, sshHostname = ""): string {
  const names = serverName.split(/\s+/).filter((n) =>
    n !== "" && n !== "_" && !n.startsWith("~") && !n.includes("*") && !n.startsWith(".")
  );
  if (names[0]) return names[0];
  const address = sshHostname.split("%")[0];
  if (ipVersion(address) === 6) return `[${address}]`;
  // A name from ~/.ssh/config may hold "_", which no Host header may.
  if (address && new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`).test(address)) return address;
  return "localhost";
}

const parseModules = (value: unknown, ctx: ParseContext) =>
  arrayOf((v) => parseModule(v, ctx, BUILTIN_MODULES), "an array of modules")(value);

/** Top-level keys, in the order defaults are resolved (a derived default reads earlier keys). */
export const TOP_LEVEL_KEYS: Readonly<Record<string, KeySpec>> = {
  name: {
    type: "string",
    scopes: ["host"],
    required: "host",
    parse: matching(SAFE_NAME),
    doc: "The host's name, as shown in output and selected with `--hosts`.",
  },
  ssh_hostname: {
    type: "string",
    scopes: ["host"],
    required: "host",
    parse: sshHostname,
    doc: "The address ssh connects to: a DNS name or an IP address (IPv6 without brackets).",
  },
  project_name: {
    type: "string",
    scopes: ALL_SCOPES,
    required: "project",
    parse: matching(SAFE_NAME),
    doc: "The Django project's name; the default of app_name and of the WSGI module.",
  },
  app_name: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: matching(SAFE_NAME),
    derive: (r) => r.project_name,
    defaultText: "`project_name`",
    doc:
      "The app's name on the server: its folders, systemd unit and nginx site are named after it.",
  },
  manage_py: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: relativePath,
    defaultValue: "manage.py",
    doc: "Path of manage.py, relative to the repository root.",
  },
  python_version: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: matching(/^3\.\d+$/),
    defaultValue: "3.11",
    doc: "The Python version of the app's virtualenv.",
  },
  app_user: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: (value) => {
      const user = matching(UNIX_USER)(value);
      // The app user is where a web app's remote-code-execution bug lands.
      if (user === "root") {
        throw new Invalid(
          'must not be "root": the app runs as an unprivileged user that cannot change what root runs',
        );
      }
      return user;
    },
    defaultValue: "app",
    doc:
      "The unix user the app runs as; created by the core module. Not root: djaploy treats it as untrusted.",
  },
  ssh_user: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: matching(UNIX_USER),
    defaultValue: "deploy",
    doc: "The user ssh logs in as; needs passwordless sudo.",
  },
  ssh_port: {
    type: "integer",
    scopes: ALL_SCOPES,
    parse: integer({ min: 1, max: 65535 }),
    defaultText: "none (ssh's own default, normally 22)",
    doc: "The ssh port.",
  },
  ssh_key: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: pathWithHome,
    defaultText: "none (ssh's own keys and agent)",
    doc: "Private key file for ssh; `~` is expanded.",
  },
  strict_host_key_checking: {
    type: "boolean",
    scopes: ALL_SCOPES,
    parse: boolean(),
    defaultValue: false,
    doc: "true: the host key must already be known; false: a new host's key is accepted and saved.",
  },
  known_hosts_file: {
    type: "string",
    scopes: ALL_SCOPES,
    parse: knownHostsFile,
    defaultText: "none (ssh's own known_hosts)",
    doc: "The known_hosts file ssh checks and updates; `~` is expanded.",
  },
  ssh_options: {
    type: "array of strings",
    scopes: ALL_SCOPES,
    parse: sshOptions,
    defaultValue: [],
    doc:
      'More ssh options, as `Key=Value` (ssh\'s `-o`), e.g. `"KexAlgorithms=curve25519-sha256"`. ' +
      "Your ~/.ssh/config applies too. djaploy's own connection options " +
      `(${quoteList(Object.keys(MANAGED_SSH_OPTIONS))}) cannot be changed here, and options ` +
      `that bypass host-key checks or run local commands ` +
      `(${quoteList(Object.keys(REFUSED_SSH_OPTIONS))}) are refused. ` +
      '`"ProxyJump=[user@]bastion[:port]"` reaches a host through a jump host; the jump ' +
      "connection uses the same key, known_hosts file and host-key policy as the host.",
  },
  deployment_strategy: {
    type: quoteList(STRATEGIES).replaceAll(", ", " | "),
    scopes: ALL_SCOPES,
    parse: oneOf(STRATEGIES),
    defaultValue: "in_place",
    doc: "How a release goes live: restart in place, start the new one before stopping the old, " +
      "or switch between two slots.",
  },
  services: {
    type: "array of strings",
    scopes: ALL_SCOPES,
    parse: arrayOf(matching(SERVICE_NAME)),
    derive: (r) => [r.app_name],
    defaultText: "`[app_name]`",
    doc: "systemd units restarted on deploy (names may contain `@` and `.`).",
  },
  schedule: SCHEDULE_KEY,
  modules: {
    type: "array of modules",
    scopes: ALL_SCOPES,
    parse: parseModules,
    defaultValue: DEFAULT_MODULES.map((name) => ({ spec: name, kind: "builtin" })),
    defaultText: `\`[${quoteList(DEFAULT_MODULES)}]\``,
    doc: "Modules to run, in order: built-in names, paths, URLs (see Modules above).",
  },
  keep_releases: {
    type: "integer",
    scopes: ALL_SCOPES,
    parse: integer({ min: 1 }),
    defaultValue: 5,
    doc: "zero_downtime: how many releases to keep on the server (for rollback); the live and " +
      "the previous good release are always kept, failed ones do not count.",
  },
  shared_resources: {
    type: "array of strings",
    scopes: ALL_SCOPES,
    parse: arrayOf(matching(RELATIVE_PATH)),
    defaultValue: [],
    doc: 'Project paths (relative, e.g. `"bostad/public"`) that live in `shared/` and are linked ' +
      "into every release and slot, so that uploads survive deploys.",
  },
  rolling: {
    type: "integer",
    scopes: ALL_SCOPES,
    parse: integer({ min: 0 }),
    defaultValue: 0,
    doc: "Deploy this many hosts at a time (0: all at once); a failed batch stops the rollout. " +
      "Read from the environment's first host; `--batch-size` overrides it.",
  },
  max_fail: {
    type: 'integer or "N%"',
    scopes: ["project", "defaults"],
    parse: parseMaxFail,
    defaultValue: 0,
    doc: "A rolling deploy (`rolling`, `--batch-size`) stops before its next batch once more " +
      "hosts than this failed: a number of hosts, or a percentage of the hosts deployed to " +
      '(`"25%"`, rounded down). 0: the first failure stops it. `--max-fail` overrides it.',
  },
  canary: {
    type: "integer",
    scopes: ["project", "defaults"],
    parse: integer({ min: 0 }),
    defaultValue: 0,
    doc: "Deploy this many hosts first (the environment's first hosts), on their own: the rest " +
      "start only once each of them deployed and passed its health check; a failed canary " +
      "stops the rollout, whatever `max_fail` says. 0: no canary. `--canary` overrides it.",
  },
  ...PYTHON_SOURCE_KEYS,
};

const strings = arrayOf(string());

/** A tool's version as pip pins it (`==<version>`): PEP 440 characters only. */
const TOOL_VERSION = /^[0-9][0-9A-Za-z.+!_-]{0,63}$/;

/**
 * A package index: an http(s) URL, or a secret reference to one. A URL that
 * carries credentials must be a reference: the config file is committed.
 */
function indexUrl(value: unknown): string | SecretRef {
  const s = string()(value);
  const ref = parseSecretRef(s);
  if (ref) return ref;
  let url: URL | undefined;
  try {
    url = new URL(s);
  } catch {
    // not a URL
  }
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new Invalid(
      `must be an http:// or https:// URL or a secret reference (env:NAME, file:PATH, op://...): got ${
        describe(s)
      }`,
    );
  }
  if (url.username || url.password) {
    url.username = url.username ? "USER" : "";
    url.password = url.password ? "***" : "";
    throw new Invalid(
      `must not hold credentials: put the URL in a secret reference (env:NAME, file:PATH, op://...): got ${url.href}`,
    );
  }
  return s;
}

/** A Debian package name (Debian Policy 5.6.7), optionally with an architecture (`:amd64`). */
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/;

const debianPackage = (value: unknown): string => {
  const s = string()(value);
  if (!DEBIAN_PACKAGE.test(s)) {
    throw new Invalid(
      "must be a Debian package name (lower-case letters, digits, +, - and ., starting with " +
        `a letter or digit; at least two characters): got ${describe(s)}`,
    );
  }
  return s;
};

/** Tables, in the order defaults are resolved. */
export const SECTIONS: readonly SectionSpec[] = [
  {
    name: "dependencies",
    doc: "How the app's Python dependencies are installed.",
    notes: "Which tool installs each manager, where the index credentials go on the server and " +
      "when old\nvirtualenvs are removed: " +
      "[how-it-works.md](how-it-works.md#dependencies-and-their-managers).",
    scopes: ALL_SCOPES,
    keys: {
      manager: {
        type: quoteList(DEPENDENCY_MANAGERS).replaceAll(", ", " | "),
        parse: oneOf(DEPENDENCY_MANAGERS),
        defaultText: "detected from the lock file in the repository",
        doc: "The tool that installs dependencies.",
      },
      install_args: {
        type: "array of strings",
        parse: strings,
        defaultValue: [],
        doc: "Extra arguments for the install command.",
      },
      system_site_packages: {
        type: "boolean",
        parse: boolean(),
        defaultValue: false,
        doc: "Whether the virtualenv sees the system's Python packages.",
      },
      index_url: {
        type: "string (URL or secret reference)",
        parse: indexUrl,
        doc: "The package index (PEP 503 simple API) pip and uv install from, instead of PyPI; " +
          "also where `configure` gets uv (and a pinned Poetry). A URL with credentials must be " +
          "a secret reference (`env:NAME`, `file:PATH`, `op://...`): it reaches the server in a " +
          "root-owned file the app user can read, never a command line. Poetry reads its sources " +
          "from pyproject.toml; it gets the credentials from the same file (as netrc).",
      },
      extra_index_urls: {
        type: "array of strings (URLs or secret references)",
        parse: arrayOf(indexUrl),
        defaultValue: [],
        doc: "More package indexes, searched besides `index_url`; credentials as for `index_url`.",
      },
      poetry_version: {
        type: "string",
        parse: matching(TOOL_VERSION),
        defaultText: "Debian's `python3-poetry` (1.3 on Debian 12)",
        doc: "Pins Poetry: `configure` installs `poetry==<version>` from the package index into " +
          "/opt/djaploy/tools/poetry-<version> (root's, run by the app user). The index must " +
          "hold Poetry and its dependencies as wheels.",
      },
      uv_version: {
        type: "string",
        parse: matching(TOOL_VERSION),
        defaultValue: "0.5.11",
        doc: "The uv `configure` installs (`uv==<version>` from the package index, as a wheel) " +
          'into /opt/djaploy/tools/uv-<version> when `manager` is `"uv"`; installed once, reused.',
      },
    },
  },
  {
    name: "gunicorn",
    doc: "The app server.",
    scopes: ALL_SCOPES,
    keys: {
      wsgi_module: {
        type: "string",
        parse: matching(/^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_.]*)?$/),
        derive: (r) => `${r.project_name}.wsgi:application`,
        defaultText: "`<project_name>.wsgi:application`",
        doc: "The WSGI application gunicorn serves.",
      },
      workers: {
        type: "integer",
        parse: integer({ min: 1 }),
        defaultValue: 2,
        doc: "Number of worker processes.",
      },
      timeout: {
        type: "integer",
        parse: integer({ min: 1 }),
        defaultValue: 30,
        doc: "Seconds a worker may take for a request before it is restarted.",
      },
      preload_app: {
        type: "boolean",
        parse: boolean(),
        defaultValue: true,
        doc: "Load the app once in gunicorn's master before forking the workers (`--preload`): " +
          "one import instead of one per worker, so a new release answers sooner.",
      },
      extra_args: {
        type: "array of strings",
        parse: strings,
        defaultValue: [],
        doc: "Extra command-line arguments for gunicorn.",
      },
    },
  },
  {
    name: "nginx",
    doc: "The web server in front of gunicorn.",
    scopes: ALL_SCOPES,
    keys: {
      server_name: {
        type: "string",
        parse: serverNames,
        defaultValue: "_",
        doc: "nginx server_name: the domains served, separated by spaces (`_`: any).",
      },
      listen: {
        type: "integer",
        parse: integer({ min: 1, max: 65535 }),
        defaultValue: 80,
        doc: "The port nginx listens on.",
      },
      client_max_body_size: {
        type: "string",
        parse: matching(/^\d+[kKmMgG]?$/),
        defaultValue: "10m",
        doc: "The largest request body nginx accepts.",
      },
    },
  },
  {
    name: "health_check",
    doc:
      "The HTTP probe of the new code before it gets traffic (after the restart with in_place); " +
      "a failed check fails the deploy.",
    scopes: ALL_SCOPES,
    keys: {
      enabled: {
        type: "boolean",
        parse: boolean(),
        defaultValue: true,
        doc: "`false`: no HTTP check; traffic moves to the new code unchecked (not recommended).",
      },
      path: {
        type: "string",
        parse: healthPath,
        defaultValue: "",
        doc: 'The URL path probed, starting with "/"; empty: `/`.',
      },
      expected_status: {
        type: "integer",
        parse: integer({ min: 100, max: 599 }),
        defaultText: "`200` when `path` is set; any 2xx or 3xx for the default `/`",
        doc: "The HTTP status that counts as healthy.",
      },
      retries: {
        type: "integer",
        parse: integer({ min: 1 }),
        defaultValue: 100,
        doc: "How many times to probe while the app answers nothing, 502, 503 or 504 " +
          "(booting), within `retries` × `interval` seconds; any other wrong answer fails at once.",
      },
      interval: {
        type: "number",
        parse: positiveNumber(),
        defaultValue: 0.1,
        doc: "Seconds between probes.",
      },
      host: {
        type: "string",
        parse: healthHost,
        derive: (r) =>
          defaultHealthHost(
            String((r.nginx as Record<string, unknown>).server_name),
            String(r.ssh_hostname ?? ""),
          ),
        defaultText: "the first name in nginx.server_name that is not `_` or a wildcard, else " +
          'the host\'s `ssh_hostname` (an IPv6 address in brackets), else `"localhost"`',
        doc: "The Host header of the probe: ALLOWED_HOSTS must accept it.",
      },
    },
  },
  {
    name: "prepare",
    doc: "Commands run on the deploying machine before the release is built.",
    scopes: ["project"],
    keys: {
      commands: {
        type: "array of strings",
        parse: arrayOf(string({ lines: true })),
        defaultValue: [],
        doc: "Shell commands, run in order; a failure stops the deploy.",
      },
    },
  },
  ARTIFACT_SECTION,
  {
    name: "certificates",
    doc:
      "TLS certificates from Let's Encrypt (or any ACME server) for the environment's domains, " +
      "used by the `certs` and `cert_renewal` modules and the `update-certs`, `sync-certs`, " +
      "`renew-certs` and `certs` commands. See docs/certificates.md.",
    scopes: ["project", "defaults"],
    keys: {
      email: {
        type: "string",
        parse: matching(/^[^\s@]+@[^\s@]+$/),
        defaultText: "none (required to issue)",
        doc: "The ACME account's contact address (expiry warnings from the CA go there).",
      },
      acme_directory: {
        type: "string",
        parse: matching(/^https:\/\/[^\s]+$/),
        defaultValue: "https://acme-v02.api.letsencrypt.org/directory",
        doc: "The ACME server's directory URL: Let's Encrypt, its staging server " +
          "(`--staging` picks it for one run) or any other ACME CA.",
      },
      acme_ca_bundle: {
        type: "string",
        parse: pathWithHome,
        defaultText: "none (the system's CAs)",
        doc: "A PEM file of CAs to trust for the ACME server itself (a private or test CA); " +
          "`~` is expanded.",
      },
      renew_before_days: {
        type: "integer",
        parse: integer({ min: 1 }),
        defaultValue: 30,
        doc: "Renew a certificate when it expires within this many days.",
      },
      store: {
        type: "string",
        parse: pathWithHome,
        defaultText: "`~/.local/share/djaploy/certs/<project_name>`",
        doc: "The local certificate store (issue_on = `controller`): certbot's account, keys and " +
          "certificates, private to you (0700). Keep it outside the git tree; `~` is expanded.",
      },
      pregenerate_certificates: {
        type: "boolean",
        parse: boolean(),
        defaultValue: false,
        doc: "`configure` puts a self-signed certificate in place for names that have none yet, " +
          "so nginx serves HTTPS (with a warning) before the first issuance.",
      },
      issue_on: {
        type: quoteList(ISSUE_ON).replaceAll(", ", " | "),
        parse: oneOf(ISSUE_ON),
        defaultValue: "server",
        doc:
          "Where certbot runs: on each server (`--webroot`; one server per HTTP-01 name) or on " +
          "this machine, which then pushes certificates to every host of a name.",
      },
      notify_command: {
        type: "string",
        parse: string({ lines: true }),
        defaultText: "none",
        doc: "A shell command run on this machine when `renew-certs` fails, with the message on " +
          "its standard input (mail, a chat webhook, ...).",
      },
      domains: {
        type: "array of tables",
        parse: (value) => parseCertDomains(value),
        defaultValue: [],
        doc: "The certificates: one `[[certificates.domains]]` table each (keys below).",
      },
    },
    notes: DOMAIN_KEYS_DOC,
  },
  {
    name: "system",
    doc: "The server's own software, beyond what djaploy installs for itself.",
    scopes: ALL_SCOPES,
    keys: {
      packages: {
        type: "array of strings",
        parse: arrayOf(debianPackage),
        defaultValue: [],
        doc: "Debian packages `configure` installs with apt-get (with what djaploy needs: " +
          "Python, nginx, rsync, ...), e.g. a database driver's library or `libjs-jquery`, " +
          "which Debian's Django links the admin's static files to. Written in more than one " +
          "level, the most specific list wins.",
      },
    },
  },
  {
    name: "env",
    doc: "Environment variables of the app. Tables merge by key across levels.",
    scopes: ALL_SCOPES,
    keys: {},
    anyKey: {
      pattern: ENV_KEY,
      type: "string",
      parse: (value) => {
        const s = string()(value);
        return parseSecretRef(s) ?? s;
      },
      defaultText: "none",
      doc: 'A value, or a secret reference: "env:NAME", "file:PATH" or "op://...".',
    },
  },
  {
    name: "systemd",
    doc:
      "The systemd units djaploy writes (gunicorn, the boot unit, backups, renewal, litestream).",
    scopes: ALL_SCOPES,
    keys: {
      hardening: {
        type: "table of booleans or array of strings",
        parse: parseHardening,
        defaultValue: [],
        defaultText: "every protection on",
        doc:
          "Protections to relax for apps that need them: `{ memory_deny_write_execute = false }` " +
          'or `["memory_deny_write_execute"]`. Names below; see docs/security.md.',
      },
    },
    notes: PROTECTION_DOC,
  },
  PROCESSES_SECTION,
  HOOKS_SECTION,
  DJANGO_SECTION,
  ...releaseSections({ envName: SAFE_NAME, relativePath }),
  ...operationsSections(),
];

export function sectionSpec(name: string): SectionSpec | undefined {
  return SECTIONS.find((s) => s.name === name);
}

/** The scopes a key of a section may be written in. */
export function keyScopes(key: KeySpec, section?: SectionSpec): readonly Scope[] {
  return key.scopes ?? section?.scopes ?? ALL_SCOPES;
}
