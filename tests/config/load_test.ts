import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import { ConfigError, UsageError } from "../../lib/errors.ts";
import type { HostConfig, ProjectConfig } from "../../lib/config/types.ts";
import { defaultHealthHost } from "../../lib/config/schema.ts";

type Files = Readonly<Record<string, string>>;

/** Writes `files` (paths relative to a new temp dir), runs `fn` with that dir, and always cleans up. */
async function withFiles<T>(files: Files, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_config_" }));
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

/** A file from lines, so that a fixture's line numbers are easy to count. */
const lines = (...ls: string[]) => ls.join("\n") + "\n";

const PROJECT = lines('project_name = "hello"');
const PRODUCTION = lines(
  "[[hosts]]",
  'name = "web1"',
  'ssh_hostname = "10.0.0.1"',
  "",
  "[[hosts]]",
  'name = "web2"',
  'ssh_hostname = "10.0.0.2"',
);
const MODULES_LINE = 'modules = ["core", "./infra/modules/certs.ts"]';

async function loadHosts(
  files: Files,
  env = "production",
  hosts?: string[],
): Promise<HostConfig[]> {
  return await withFiles(files, async (dir) => {
    const project = await loadProject({ cwd: dir });
    return [...(await loadEnvironment(project, env, { hosts })).hosts];
  });
}

// ---------------------------------------------------------------------------
// Bad inputs and their exact messages.

interface BadCase {
  name: string;
  files: Files;
  /** Load this environment after the project (the project alone when absent). */
  env?: string;
  message: string;
}

const inv = (...ls: string[]): Files => ({
  "infra/djaploy.toml": PROJECT,
  "infra/inventory/production.toml": lines(...ls),
});
const proj = (...ls: string[]): Files => ({ "infra/djaploy.toml": lines(...ls) });
const host = ["[[hosts]]", 'name = "web1"', 'ssh_hostname = "10.0.0.1"'];

const SERVER_NAMES_RULE = "must be nginx server names separated by single spaces: domain names " +
  '(example.com), wildcards (*.example.com, .example.com, example.*), "_" or a ~regex without ' +
  "; { } \\ or quotes: ";
const SSH_HOSTNAME_RULE = "must be a DNS name (web1.example.com), an IPv4 address or an IPv6 " +
  "address without brackets (2001:db8::1): ";
const NO_CONTROL =
  "must be printable text, without control characters (newline, tab, NUL and the like): ";
const NO_CONTROL_LINES = "must be text without control characters other than newline and tab " +
  "(NUL, escape, DEL and the like): ";

const BAD: BadCase[] = [
  {
    name: "TOML syntax error",
    files: proj('project_name = "hello"', "ssh_port = = 22", 'app_user = "app"'),
    message: "infra/djaploy.toml:2: Invalid TOML document: invalid value",
  },
  {
    name: "TOML syntax error in an inventory",
    files: inv("[[hosts]]", 'name = "web1', 'ssh_hostname = "x"'),
    env: "production",
    message:
      "infra/inventory/production.toml:2: Invalid TOML document: newlines are not allowed in strings",
  },
  {
    name: "missing project_name",
    files: proj('app_name = "hello"'),
    message: "infra/djaploy.toml: project_name: is required",
  },
  {
    name: "unknown key with a suggestion",
    files: proj('project_name = "hello"', 'deploymnet_strategy = "bluegreen"'),
    message:
      'infra/djaploy.toml:2: unknown key "deploymnet_strategy" (did you mean "deployment_strategy"?)',
  },
  {
    name: "unknown key without a suggestion",
    files: proj('project_name = "hello"', 'colour = "red"'),
    message: 'infra/djaploy.toml:2: unknown key "colour"',
  },
  {
    name: "unknown table",
    files: proj('project_name = "hello"', "", "[gunicron]", "workers = 3"),
    message: 'infra/djaploy.toml:3: unknown table "gunicron" (did you mean "gunicorn"?): a table ' +
      "must be a built-in section or be named after a custom module listed in modules",
  },
  {
    name: "a module's table without the module",
    files: proj('project_name = "hello"', "[certs]", 'email = "a@example.com"'),
    message: 'infra/djaploy.toml:2: unknown table "certs": a table must be a built-in section or ' +
      "be named after a custom module listed in modules",
  },
  {
    name: "unknown key in a table",
    files: proj('project_name = "hello"', "[gunicorn]", "worker = 3"),
    message: 'infra/djaploy.toml:3: gunicorn: unknown key "worker" (did you mean "workers"?)',
  },
  {
    name: "a string that is a number",
    files: proj("project_name = 42"),
    message: "infra/djaploy.toml:1: project_name: must be a string: got 42",
  },
  {
    name: "an unsafe project name",
    files: proj('project_name = "My App"'),
    message: 'infra/djaploy.toml:1: project_name: must match ^[a-z][a-z0-9_-]{0,62}$: got "My App"',
  },
  {
    name: "an unsafe app_user",
    files: proj('project_name = "hello"', 'app_user = "Root"'),
    message: 'infra/djaploy.toml:2: app_user: must match ^[a-z_][a-z0-9_-]{0,31}$: got "Root"',
  },
  {
    name: "an integer that is a string",
    files: proj('project_name = "hello"', "[gunicorn]", 'workers = "two"'),
    message: 'infra/djaploy.toml:3: gunicorn.workers: must be an integer: got "two"',
  },
  {
    name: "an integer below its minimum",
    files: proj('project_name = "hello"', "keep_releases = 0"),
    message: "infra/djaploy.toml:2: keep_releases: must be at least 1: got 0",
  },
  {
    name: "max_fail that is neither a count nor a percentage",
    files: proj('project_name = "hello"', 'max_fail = "half"'),
    message: "infra/djaploy.toml:2: max_fail: must be a number of hosts (0 or more) or a " +
      'percentage of the hosts deployed to, such as "25%": got "half"',
  },
  {
    name: "max_fail on one host (it is the environment's)",
    files: inv(...host, "max_fail = 1"),
    env: "production",
    message: "infra/inventory/production.toml:4: hosts[0].max_fail: not allowed in inventory " +
      "[[hosts]]: allowed in djaploy.toml, inventory [defaults]",
  },
  {
    name: "canary on one host (it is the environment's)",
    files: inv(...host, "canary = 1"),
    env: "production",
    message: "infra/inventory/production.toml:4: hosts[0].canary: not allowed in inventory " +
      "[[hosts]]: allowed in djaploy.toml, inventory [defaults]",
  },
  {
    name: "a negative canary",
    files: proj('project_name = "hello"', "canary = -1"),
    message: "infra/djaploy.toml:2: canary: must be at least 0: got -1",
  },
  {
    name: "a port out of range",
    files: proj('project_name = "hello"', "ssh_port = 70000"),
    message: "infra/djaploy.toml:2: ssh_port: must be between 1 and 65535: got 70000",
  },
  {
    name: "a status out of range, written as a dotted key",
    files: proj('project_name = "hello"', "health_check.expected_status = 700"),
    message:
      "infra/djaploy.toml:2: health_check.expected_status: must be between 100 and 599: got 700",
  },
  {
    name: "an interval of zero",
    files: proj('project_name = "hello"', "[health_check]", "interval = 0"),
    message: "infra/djaploy.toml:3: health_check.interval: must be greater than 0: got 0",
  },
  {
    name: "a health check path without a slash",
    files: proj('project_name = "hello"', "[health_check]", 'path = "health"'),
    message: 'infra/djaploy.toml:3: health_check.path: must be empty or a path starting with "/" ' +
      'without spaces: got "health"',
  },
  {
    name: "an ssh option djaploy manages",
    files: proj(
      'project_name = "hello"',
      'ssh_options = ["ConnectTimeout=30", "controlpath=/tmp/x"]',
    ),
    message:
      'infra/djaploy.toml:2: ssh_options[1]: must not set ControlPath: djaploy sets it: got "controlpath=/tmp/x"',
  },
  {
    name: "an ssh option with a config key of its own",
    files: proj('project_name = "hello"', 'ssh_options = ["Port=2222"]'),
    message:
      'infra/djaploy.toml:2: ssh_options[0]: must not set Port: djaploy sets it (use ssh_port): got "Port=2222"',
  },
  {
    name: "an ssh option that is not Key=Value",
    files: proj('project_name = "hello"', 'ssh_options = ["-o Compression=yes"]'),
    message:
      'infra/djaploy.toml:2: ssh_options[0]: must match ^[A-Za-z][A-Za-z0-9]*=\\S.*$: got "-o Compression=yes"',
  },
  {
    name: "a boolean that is a string",
    files: proj('project_name = "hello"', 'strict_host_key_checking = "yes"'),
    message:
      'infra/djaploy.toml:2: strict_host_key_checking: must be a boolean (true or false): got "yes"',
  },
  {
    name: "an array that is a string",
    files: proj('project_name = "hello"', 'services = "web"'),
    message: 'infra/djaploy.toml:2: services: must be an array of strings: got "web"',
  },
  {
    name: "an array item of the wrong type",
    files: proj('project_name = "hello"', "[gunicorn]", 'extra_args = ["--reload", 3]'),
    message: "infra/djaploy.toml:3: gunicorn.extra_args[1]: must be a string: got 3",
  },
  {
    name: "an unsafe service name",
    files: proj('project_name = "hello"', 'services = ["hello", "Hello Worker"]'),
    message: "infra/djaploy.toml:2: services[1]: must match ^[a-z][a-z0-9_@.-]{0,62}$: got " +
      '"Hello Worker"',
  },
  {
    name: "a python version that is not 3.x",
    files: proj('project_name = "hello"', 'python_version = "2.7"'),
    message: 'infra/djaploy.toml:2: python_version: must match ^3\\.\\d+$: got "2.7"',
  },
  {
    name: "manage_py outside the project",
    files: proj('project_name = "hello"', 'manage_py = "../manage.py"'),
    message: "infra/djaploy.toml:2: manage_py: must be a relative path inside the project, " +
      'without "..": got "../manage.py"',
  },
  {
    name: "a dependency manager that is not known",
    files: proj('project_name = "hello"', "[dependencies]", 'manager = "conda"'),
    message: 'infra/djaploy.toml:3: dependencies.manager: must be one of "poetry", "uv", "pip": ' +
      'got "conda"',
  },
  {
    name: "an nginx server_name that would break the config",
    files: proj('project_name = "hello"', "[nginx]", 'server_name = "a.com; include /x"'),
    message: "infra/djaploy.toml:3: nginx.server_name: " + SERVER_NAMES_RULE +
      'got "a.com; include /x"',
  },
  {
    name: "a table that is a string",
    files: proj('project_name = "hello"', 'gunicorn = "fast"'),
    message: 'infra/djaploy.toml:2: gunicorn: must be a table: got "fast"',
  },
  {
    name: "an env variable name",
    files: proj('project_name = "hello"', "[env]", '"DJANGO-DEBUG" = "1"'),
    message: "infra/djaploy.toml:3: env: variable name must match ^[A-Za-z_][A-Za-z0-9_]*$: " +
      'got "DJANGO-DEBUG"',
  },
  {
    name: "an env value that is not a string",
    files: proj('project_name = "hello"', "[env]", "DEBUG = 1"),
    message: "infra/djaploy.toml:3: env.DEBUG: must be a string: got 1",
  },
  {
    name: "an unknown module",
    files: proj('project_name = "hello"', 'modules = ["core", "ngnix"]'),
    message: 'infra/djaploy.toml:2: modules[1]: unknown module "ngnix" (did you mean "nginx"?): ' +
      'must be a built-in module ("core", "nginx", "systemd", "certs", "cert_renewal", "rclone", ' +
      '"borg", "litestream", "tailscale"), a path ' +
      'starting with "./", "../" or "/" and ending in ".ts", an http:// or https:// URL, or ' +
      '{ url = "https://...", ' +
      'sha256 = "<64 hex digits>" }',
  },
  {
    name: "a module path that is not a .ts file",
    files: proj('project_name = "hello"', 'modules = ["./modules/certs.py"]'),
    message: 'infra/djaploy.toml:2: modules[0]: unknown module "./modules/certs.py": must be a ' +
      'built-in module ("core", "nginx", "systemd", "certs", "cert_renewal", "rclone", "borg", ' +
      '"litestream", "tailscale"), a path starting ' +
      'with "./", "../" or "/" and ending in ".ts", an http:// or https:// URL, or ' +
      '{ url = "https://...", ' +
      'sha256 = "<64 hex digits>" }',
  },
  {
    name: "a pinned module without its hash",
    files: proj('project_name = "hello"', 'modules = [{ url = "https://example.com/certs.ts" }]'),
    message: "infra/djaploy.toml:2: modules[0].sha256: is required",
  },
  {
    name: "a pinned module with a short hash",
    files: proj(
      'project_name = "hello"',
      'modules = [{ url = "https://example.com/certs.ts", sha256 = "abc" }]',
    ),
    message:
      'infra/djaploy.toml:2: modules[0].sha256: must be 64 hex digits (a SHA-256): got "abc"',
  },
  {
    name: "a host key in djaploy.toml",
    files: proj('project_name = "hello"', 'name = "web1"'),
    message:
      "infra/djaploy.toml:2: name: not allowed in djaploy.toml: allowed in inventory [[hosts]]",
  },
  {
    name: "a project-only table in an inventory",
    files: inv("[defaults.prepare]", 'commands = ["make"]', ...host),
    env: "production",
    message: "infra/inventory/production.toml:1: defaults.prepare: not allowed in inventory " +
      "[defaults]: allowed in djaploy.toml",
  },
  {
    name: "a bad deployment_strategy in a host",
    files: inv(
      "[defaults]",
      'ssh_user = "deploy"',
      "",
      "[[hosts]]",
      'name = "web1"',
      'ssh_hostname = "10.0.0.1"',
      'deployment_strategy = "blue-green"',
    ),
    env: "production",
    message: "infra/inventory/production.toml:7: hosts[0].deployment_strategy: must be one of " +
      '"in_place", "zero_downtime", "bluegreen": got "blue-green"',
  },
  {
    name: "an unknown key in the second host",
    files: inv(
      ...host,
      "",
      ...host.slice(0, 1),
      'name = "web2"',
      'ssh_hostname = "b"',
      "sshport = 22",
    ),
    env: "production",
    message:
      'infra/inventory/production.toml:8: hosts[1]: unknown key "sshport" (did you mean "ssh_port"?)',
  },
  {
    name: "a key in a host's table",
    files: inv(...host, "[hosts.gunicorn]", "workers = 0"),
    env: "production",
    message:
      "infra/inventory/production.toml:5: hosts[0].gunicorn.workers: must be at least 1: got 0",
  },
  {
    name: "a host without ssh_hostname",
    files: inv("[[hosts]]", 'name = "web1"'),
    env: "production",
    message: "infra/inventory/production.toml:1: hosts[0].ssh_hostname: is required",
  },
  {
    name: "an ssh_hostname that looks like an option",
    files: inv("[[hosts]]", 'name = "web1"', 'ssh_hostname = "-oProxyCommand=x"'),
    env: "production",
    message: "infra/inventory/production.toml:3: hosts[0].ssh_hostname: " + SSH_HOSTNAME_RULE +
      'got "-oProxyCommand=x"',
  },
  {
    name: "an unsafe host name",
    files: inv("[[hosts]]", 'name = "Web 1"', 'ssh_hostname = "a"'),
    env: "production",
    message:
      'infra/inventory/production.toml:2: hosts[0].name: must match ^[a-z][a-z0-9_-]{0,62}$: got "Web 1"',
  },
  {
    name: "duplicate host names",
    files: inv(...host, ...host),
    env: "production",
    message:
      'infra/inventory/production.toml:5: hosts[1].name: must be unique: "web1" is also hosts[0].name',
  },
  {
    name: "an inventory without hosts",
    files: inv("[defaults]", 'ssh_user = "deploy"'),
    env: "production",
    message:
      "infra/inventory/production.toml: hosts: must have at least one [[hosts]] table with " +
      "name and ssh_hostname: got none",
  },
  {
    name: "hosts that are not tables",
    files: inv('hosts = ["web1"]'),
    env: "production",
    message:
      'infra/inventory/production.toml:1: hosts: must be an array of tables ([[hosts]]): got ["web1"]',
  },
  {
    name: "defaults that are not a table",
    files: inv("defaults = 1", ...host),
    env: "production",
    message: "infra/inventory/production.toml:1: defaults: must be a table: got 1",
  },
  {
    name: "a project key at the top of an inventory",
    files: inv('ssh_user = "admin"', ...host),
    env: "production",
    message: 'infra/inventory/production.toml:1: unknown key "ssh_user": put it under [defaults] ' +
      "or in a [[hosts]] table",
  },
  {
    name: "an unknown table at the top of an inventory",
    files: inv("[default]", 'ssh_user = "admin"', ...host),
    env: "production",
    message: 'infra/inventory/production.toml:1: unknown table "default" (did you mean ' +
      '"defaults"?): an inventory has only [defaults] and [[hosts]]',
  },
  {
    name: "an unknown environment",
    files: {
      "infra/djaploy.toml": PROJECT,
      "infra/inventory/production.toml": PRODUCTION,
      "infra/inventory/staging.toml": PRODUCTION,
    },
    env: "prod",
    message: 'Unknown environment "prod": infra/inventory/ has "production", "staging"',
  },
  {
    name: "an environment when there are none",
    files: { "infra/djaploy.toml": PROJECT },
    env: "prod",
    message: 'Unknown environment "prod": infra/inventory/ has no environments',
  },
  {
    name: "an environment whose file name is not a safe name",
    files: { "infra/djaploy.toml": PROJECT, "infra/inventory/Prod.toml": PRODUCTION },
    env: "Prod",
    message:
      'infra/inventory/Prod.toml: environment name: must match ^[a-z][a-z0-9_-]{0,62}$: got "Prod"',
  },
  {
    name: "a line after a multi-line string that looks like a table header",
    files: inv(
      "[defaults.env]",
      'NOTE = """',
      "[[hosts]]",
      '"""',
      "[[hosts]]",
      'name = "web1"',
      'ssh_hostname = "a"',
      'ssh_port = "x"',
    ),
    env: "production",
    message: "infra/inventory/production.toml:2: defaults.env.NOTE: " + NO_CONTROL +
      'got "[[hosts]]\\n"\n' +
      'infra/inventory/production.toml:8: hosts[0].ssh_port: must be an integer: got "x"',
  },
  {
    name: "a line after a multi-line array",
    files: inv(
      "[[hosts]]",
      'name = "web1"',
      "services = [",
      '  "a",',
      '  "b", # ssh_port = 1',
      "]",
      'ssh_hostname = "x"',
      "ssh_port = 0",
    ),
    env: "production",
    message:
      "infra/inventory/production.toml:8: hosts[0].ssh_port: must be between 1 and 65535: got 0",
  },
  {
    name: "a quoted key",
    files: inv(...host, "[hosts.env]", '"SECRET" = 5'),
    env: "production",
    message: "infra/inventory/production.toml:5: hosts[0].env.SECRET: must be a string: got 5",
  },
  {
    name: "every problem, one per line",
    files: inv(
      "[defaults]",
      'deployment_strategy = "fast"',
      "",
      "[[hosts]]",
      'name = "web1"',
      "ssh_port = -1",
    ),
    env: "production",
    message: [
      'infra/inventory/production.toml:2: defaults.deployment_strategy: must be one of "in_place", ' +
      '"zero_downtime", "bluegreen": got "fast"',
      "infra/inventory/production.toml:6: hosts[0].ssh_port: must be between 1 and 65535: got -1",
      "infra/inventory/production.toml:4: hosts[0].ssh_hostname: is required",
    ].join("\n"),
  },
  {
    name: "an ssh option that bypasses host-key checks: GlobalKnownHostsFile",
    files: proj('project_name = "hello"', 'ssh_options = ["GlobalKnownHostsFile=/dev/null"]'),
    message:
      "infra/djaploy.toml:2: ssh_options[0]: must not set GlobalKnownHostsFile: it changes how the " +
      "server's host key is checked, which is what stops a man in the middle (use " +
      'known_hosts_file and strict_host_key_checking): got "GlobalKnownHostsFile=/dev/null"',
  },
  {
    name: "an ssh option that bypasses host-key checks: KnownHostsCommand",
    files: proj('project_name = "hello"', 'ssh_options = ["KnownHostsCommand=/bin/cat /tmp/keys"]'),
    message:
      "infra/djaploy.toml:2: ssh_options[0]: must not set KnownHostsCommand: it changes how the " +
      "server's host key is checked, which is what stops a man in the middle (use " +
      'known_hosts_file and strict_host_key_checking): got "KnownHostsCommand=/bin/cat /tmp/keys"',
  },
  {
    name: "an ssh option that bypasses host-key checks: HostKeyAlias",
    files: proj('project_name = "hello"', 'ssh_options = ["hostkeyalias=trusted.example"]'),
    message:
      "infra/djaploy.toml:2: ssh_options[0]: must not set HostKeyAlias: it changes how the " +
      "server's host key is checked, which is what stops a man in the middle (use " +
      'known_hosts_file and strict_host_key_checking): got "hostkeyalias=trusted.example"',
  },
  {
    name: "an ssh option that bypasses host-key checks: CheckHostIP",
    files: proj('project_name = "hello"', 'ssh_options = ["CheckHostIP=no"]'),
    message: "infra/djaploy.toml:2: ssh_options[0]: must not set CheckHostIP: it changes how the " +
      "server's host key is checked, which is what stops a man in the middle (use " +
      'known_hosts_file and strict_host_key_checking): got "CheckHostIP=no"',
  },
  {
    name: "an ssh option that bypasses host-key checks: VerifyHostKeyDNS",
    files: proj('project_name = "hello"', 'ssh_options = ["VerifyHostKeyDNS=yes"]'),
    message:
      "infra/djaploy.toml:2: ssh_options[0]: must not set VerifyHostKeyDNS: it changes how the " +
      "server's host key is checked, which is what stops a man in the middle (use " +
      'known_hosts_file and strict_host_key_checking): got "VerifyHostKeyDNS=yes"',
  },
  {
    name: "ForwardAgent in ssh_options",
    files: proj('project_name = "hello"', 'ssh_options = ["ForwardAgent=yes"]'),
    message: "infra/djaploy.toml:2: ssh_options[0]: must not set ForwardAgent: djaploy sets it " +
      `to no (a server must not use your agent's keys): got "ForwardAgent=yes"`,
  },
  {
    name: "an ssh option that runs a local command: LocalCommand",
    files: proj('project_name = "hello"', 'ssh_options = ["LocalCommand=touch /tmp/pwned"]'),
    message: "infra/djaploy.toml:2: ssh_options[0]: must not set LocalCommand: it runs a command " +
      'on this machine after every login: got "LocalCommand=touch /tmp/pwned"',
  },
  {
    name: "an ssh option that runs a local command: PermitLocalCommand",
    files: proj('project_name = "hello"', 'ssh_options = ["PermitLocalCommand=yes"]'),
    message: "infra/djaploy.toml:2: ssh_options[0]: must not set PermitLocalCommand: it lets " +
      'LocalCommand run a command on this machine after every login: got "PermitLocalCommand=yes"',
  },
  {
    name: "an ssh option that replaces djaploy's commands: RemoteCommand",
    files: proj('project_name = "hello"', 'ssh_options = ["RemoteCommand=sh"]'),
    message: "infra/djaploy.toml:2: ssh_options[0]: must not set RemoteCommand: it replaces the " +
      'commands djaploy sends: got "RemoteCommand=sh"',
  },
  {
    name: "StrictHostKeyChecking=no in an inventory's ssh_options",
    files: inv("[defaults]", 'ssh_options = ["StrictHostKeyChecking=no"]', ...host),
    env: "production",
    message: "infra/inventory/production.toml:2: defaults.ssh_options[0]: must not set " +
      "StrictHostKeyChecking: djaploy sets it (use strict_host_key_checking): got " +
      '"StrictHostKeyChecking=no"',
  },
  {
    name: "known_hosts_file = /dev/null",
    files: inv(...host, 'known_hosts_file = "/dev/null"'),
    env: "production",
    message: "infra/inventory/production.toml:4: hosts[0].known_hosts_file: must be a file that " +
      "keeps host keys: /dev/null forgets every key, so any server, a man in the middle " +
      'included, would be accepted: got "/dev/null"',
  },
  {
    name: "a ProxyJump that is not a host",
    files: proj('project_name = "hello"', 'ssh_options = ["ProxyJump=-oProxyCommand=x"]'),
    message:
      "infra/djaploy.toml:2: ssh_options[0]: must be ProxyJump=[user@]host[:port], several " +
      'separated by commas (an IPv6 address in brackets): got "ProxyJump=-oProxyCommand=x"',
  },
  {
    name: "ProxyJump with ProxyCommand",
    files: proj(
      'project_name = "hello"',
      'ssh_options = ["ProxyJump=bastion", "ProxyCommand=nc %h %p"]',
    ),
    message:
      "infra/djaploy.toml:2: ssh_options[1]: must not set both ProxyJump and ProxyCommand: " +
      'ssh would use only the first: got "ProxyCommand=nc %h %p"',
  },
  {
    name: "a newline in an env value (a second variable in the env file)",
    files: proj('project_name = "hello"', "[env]", 'GREETING = "hi\\nLD_PRELOAD=/tmp/evil.so"'),
    message: "infra/djaploy.toml:3: env.GREETING: " + NO_CONTROL +
      'got "hi\\nLD_PRELOAD=/tmp/evil.so"',
  },
  {
    name: "a NUL in an env value",
    files: proj('project_name = "hello"', "[env]", 'GREETING = "hi\\u0000"'),
    message: "infra/djaploy.toml:3: env.GREETING: " + NO_CONTROL + 'got "hi\\u0000"',
  },
  {
    name: "a NUL in a secret reference",
    files: proj('project_name = "hello"', "[env]", 'KEY = "file:/a\\u0000"'),
    message: "infra/djaploy.toml:3: env.KEY: " + NO_CONTROL + 'got "file:/a\\u0000"',
  },
  {
    name: "a newline in gunicorn extra_args (a second line in the unit)",
    files: proj(
      'project_name = "hello"',
      "[gunicorn]",
      'extra_args = ["--bind=unix:/x\\nExecStartPre=/bin/sh"]',
    ),
    message: "infra/djaploy.toml:3: gunicorn.extra_args[0]: " + NO_CONTROL +
      'got "--bind=unix:/x\\nExecStartPre=/bin/sh"',
  },
  {
    name: "a newline in gunicorn wsgi_module",
    files: proj('project_name = "hello"', "[gunicorn]", 'wsgi_module = "hello.wsgi\\n"'),
    message: "infra/djaploy.toml:3: gunicorn.wsgi_module: " + NO_CONTROL + 'got "hello.wsgi\\n"',
  },
  {
    name: "a newline in a service name",
    files: proj('project_name = "hello"', 'services = ["hello\\nworld"]'),
    message: "infra/djaploy.toml:2: services[0]: " + NO_CONTROL + 'got "hello\\nworld"',
  },
  {
    name: "a DEL in ssh_user",
    files: proj('project_name = "hello"', 'ssh_user = "deploy\\u007f"'),
    message: "infra/djaploy.toml:2: ssh_user: " + NO_CONTROL + 'got "deploy\\u007f"',
  },
  {
    name: "a newline in nginx server_name",
    files: proj('project_name = "hello"', "[nginx]", 'server_name = "a.example.com\\n"'),
    message: "infra/djaploy.toml:3: nginx.server_name: " + NO_CONTROL + 'got "a.example.com\\n"',
  },
  {
    name: "a server name starting with a hyphen",
    files: proj('project_name = "hello"', "[nginx]", 'server_name = "-bad.example.com"'),
    message: "infra/djaploy.toml:3: nginx.server_name: " + SERVER_NAMES_RULE +
      'got "-bad.example.com"',
  },
  {
    name: "a server name with an empty label",
    files: proj('project_name = "hello"', "[nginx]", 'server_name = "a..example.com"'),
    message: "infra/djaploy.toml:3: nginx.server_name: " + SERVER_NAMES_RULE +
      'got "a..example.com"',
  },
  {
    name: "server names separated by two spaces",
    files: proj(
      'project_name = "hello"',
      "[nginx]",
      'server_name = "a.example.com  b.example.com"',
    ),
    message: "infra/djaploy.toml:3: nginx.server_name: " + SERVER_NAMES_RULE +
      'got "a.example.com  b.example.com"',
  },
  {
    name: "an ssh_hostname with a shell command",
    files: inv("[[hosts]]", 'name = "web1"', 'ssh_hostname = "web1 ; rm -rf /"'),
    env: "production",
    message: "infra/inventory/production.toml:3: hosts[0].ssh_hostname: " + SSH_HOSTNAME_RULE +
      'got "web1 ; rm -rf /"',
  },
  {
    name: "an IPv6 ssh_hostname in brackets",
    files: inv("[[hosts]]", 'name = "web1"', 'ssh_hostname = "[2001:db8::1]"'),
    env: "production",
    message: "infra/inventory/production.toml:3: hosts[0].ssh_hostname: " + SSH_HOSTNAME_RULE +
      'got "[2001:db8::1]"',
  },
  {
    name: "an ssh_hostname that is not an IPv6 address",
    files: inv("[[hosts]]", 'name = "web1"', 'ssh_hostname = "2001:db8::1::2"'),
    env: "production",
    message: "infra/inventory/production.toml:3: hosts[0].ssh_hostname: " + SSH_HOSTNAME_RULE +
      'got "2001:db8::1::2"',
  },
  {
    name: "a NUL in a custom module's table",
    files: proj(
      'project_name = "hello"',
      'modules = ["core", "./infra/modules/mymod.ts"]',
      "[mymod]",
      'note = "a\\u0000b"',
    ),
    message: "infra/djaploy.toml:4: mymod.note: " + NO_CONTROL_LINES + 'got "a\\u0000b"',
  },
  {
    name: "a NUL in a [prepare] command",
    files: proj('project_name = "hello"', "[prepare]", 'commands = ["make\\u0000"]'),
    message: "infra/djaploy.toml:3: prepare.commands[0]: " + NO_CONTROL_LINES + 'got "make\\u0000"',
  },
  {
    name: "an escape sequence in notify_command",
    files: proj('project_name = "hello"', "[certificates]", 'notify_command = "mail \\u001b[2J"'),
    message: "infra/djaploy.toml:3: certificates.notify_command: " + NO_CONTROL_LINES +
      'got "mail \\u001b[2J"',
  },
  {
    name: "a tab in the health check path",
    files: proj('project_name = "hello"', "[health_check]", 'path = "/health\\t"'),
    message: "infra/djaploy.toml:3: health_check.path: " + NO_CONTROL + 'got "/health\\t"',
  },
  {
    name: "an escape sequence in the notifications display_name",
    files: proj('project_name = "hello"', "[notifications]", 'display_name = "Hi\\u001b[31m"'),
    message: "infra/djaploy.toml:3: notifications.display_name: " + NO_CONTROL +
      'got "Hi\\u001b[31m"',
  },
  {
    name: "a newline in an rclone option (a new section in rclone.conf)",
    files: proj(
      'project_name = "hello"',
      'modules = ["core", "rclone"]',
      "[rclone.remote]",
      'type = "sftp"',
      'host = "a\\n[evil]"',
    ),
    message: "infra/djaploy.toml:5: rclone.remote.host: " + NO_CONTROL + 'got "a\\n[evil]"',
  },
  {
    name: "a raw NUL byte in a TOML string",
    files: { "infra/djaploy.toml": 'project_name = "hel\0lo"\n' },
    message: "infra/djaploy.toml:1: Invalid TOML document: control characters are not allowed " +
      "in strings",
  },
  {
    name: "a raw NUL byte outside strings",
    files: { "infra/djaploy.toml": 'project_name = "hello"\n\0\n' },
    message: "infra/djaploy.toml:2: Invalid TOML document: incomplete key-value: cannot find end " +
      "of key",
  },
  {
    name: "a control character in a key",
    files: proj('project_name = "hello"', '"x\\u0001" = 1'),
    message: 'infra/djaploy.toml:2: unknown key "x\\u0001"',
  },
  {
    name: "a NUL in a module path",
    files: proj('project_name = "hello"', 'modules = ["core", "./infra/a\\u0000.ts"]'),
    message: "infra/djaploy.toml:2: modules[1]: " + NO_CONTROL + 'got "./infra/a\\u0000.ts"',
  },
  {
    name: "a health check Host header that is not a host",
    files: proj('project_name = "hello"', "[health_check]", 'host = "example.com/evil"'),
    message: "infra/djaploy.toml:3: health_check.host: must be a Host header: a DNS name " +
      "(www.example.com), an IPv4 address or an IPv6 address in brackets, optionally with " +
      ':port: got "example.com/evil"',
  },
];

for (const c of BAD) {
  Deno.test(`config error: ${c.name}`, async () => {
    const error = await withFiles(c.files, async (dir) => {
      try {
        const project = await loadProject({ cwd: dir });
        if (c.env !== undefined) await loadEnvironment(project, c.env);
      } catch (e) {
        return e;
      }
      return undefined;
    });
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.message, c.message);
    assert.equal(error.exitCode, 2);
  });
}

Deno.test("config error: an env hint says where to create the file", async () => {
  await withFiles({ "infra/djaploy.toml": PROJECT }, async (dir) => {
    const project = await loadProject({ cwd: dir });
    await assert.rejects(() => loadEnvironment(project, "prod"), (e: ConfigError) => {
      assert.equal(
        e.hint,
        "Create infra/inventory/prod.toml with a [[hosts]] table (name, ssh_hostname).",
      );
      return true;
    });
  });
});

Deno.test("config error: a TOML syntax error's hint shows the line", async () => {
  await withFiles(proj('project_name = "hello"', "ssh_port = = 22"), async (dir) => {
    await assert.rejects(() => loadProject({ cwd: dir }), (e: ConfigError) => {
      assert.match(e.hint ?? "", /2: {2}ssh_port = = 22\n\s+\^/);
      return true;
    });
  });
});

Deno.test("config error: no infra/djaploy.toml in the folder or above it", async () => {
  await withFiles({ "app/readme.txt": "" }, async (dir) => {
    const cwd = join(dir, "app");
    await assert.rejects(() => loadProject({ cwd }), (e: ConfigError) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `Cannot find infra/djaploy.toml: not in ${cwd} or any folder above it`,
      );
      return true;
    });
  });
});

Deno.test("config error: --config names a file that does not exist", async () => {
  await withFiles({ "infra/djaploy.toml": PROJECT }, async (dir) => {
    await assert.rejects(
      () => loadProject({ cwd: dir, configPath: "infra/nope.toml" }),
      (e: ConfigError) =>
        e instanceof ConfigError && e.message === "Cannot read infra/nope.toml: no such file",
    );
  });
});

Deno.test("host selection: an unknown host is a usage error listing the hosts", async () => {
  await withFiles(
    { "infra/djaploy.toml": PROJECT, "infra/inventory/production.toml": PRODUCTION },
    async (dir) => {
      const project = await loadProject({ cwd: dir });
      await assert.rejects(
        () => loadEnvironment(project, "production", { hosts: ["web3"] }),
        (e: UsageError) => {
          assert.ok(e instanceof UsageError);
          assert.equal(
            e.message,
            'Unknown host "web3" (did you mean "web1"?) in environment "production": it has "web1", "web2"',
          );
          assert.equal(e.exitCode, 2);
          return true;
        },
      );
    },
  );
});

// ---------------------------------------------------------------------------
// What a valid config gives.

Deno.test("project: walks up from the working folder to infra/djaploy.toml", async () => {
  await withFiles(
    {
      "infra/djaploy.toml": lines('project_name = "hello"', "[prepare]", 'commands = ["make css"]'),
      "infra/inventory/staging.toml": PRODUCTION,
      "infra/inventory/production.toml": PRODUCTION,
      "infra/inventory/notes.txt": "",
      "hello/templates/x.html": "",
    },
    async (dir) => {
      const project = await loadProject({ cwd: join(dir, "hello", "templates") });
      assert.equal(project.config_path, join(dir, "infra", "djaploy.toml"));
      assert.equal(project.infra_dir, join(dir, "infra"));
      assert.equal(project.repo_dir, dir);
      assert.equal(project.project_name, "hello");
      assert.deepEqual(project.prepare, { commands: ["make css"] });
      assert.deepEqual(project.environments, ["production", "staging"]);
    },
  );
});

Deno.test("project: --config takes the file as given", async () => {
  await withFiles({ "deploy/djaploy.toml": PROJECT }, async (dir) => {
    const project = await loadProject({ cwd: dir, configPath: "deploy/djaploy.toml" });
    assert.equal(project.config_path, join(dir, "deploy", "djaploy.toml"));
    assert.equal(project.repo_dir, dir);
    assert.deepEqual(project.environments, []);
    assert.deepEqual(project.prepare, { commands: [] });
  });
});

Deno.test("host: every key gets its built-in default", async () => {
  const [web1] = await loadHosts({
    "infra/djaploy.toml": PROJECT,
    "infra/inventory/production.toml": PRODUCTION,
  });
  assert.deepEqual(web1, {
    name: "web1",
    ssh_hostname: "10.0.0.1",
    ssh_options: [],
    project_name: "hello",
    app_name: "hello",
    manage_py: "manage.py",
    python_version: "3.11",
    app_user: "app",
    ssh_user: "deploy",
    strict_host_key_checking: false,
    deployment_strategy: "in_place",
    django: { databases: ["default"] },
    services: ["hello"],
    schedule: [],
    modules: [
      { spec: "core", kind: "builtin" },
      { spec: "nginx", kind: "builtin" },
      { spec: "systemd", kind: "builtin" },
    ],
    keep_releases: 5,
    shared_resources: [],
    rolling: 0,
    dependencies: {
      install_args: [],
      system_site_packages: false,
      extra_index_urls: [],
      uv_version: "0.5.11",
    },
    gunicorn: {
      wsgi_module: "hello.wsgi:application",
      workers: 2,
      timeout: 30,
      preload_app: true,
      extra_args: [],
    },
    nginx: { server_name: "_", listen: 80, client_max_body_size: "10m" },
    health_check: {
      enabled: true,
      path: "",
      retries: 100,
      interval: 0.1,
      // No concrete server_name: the address the inventory reaches the host at.
      host: "10.0.0.1",
    },
    system: { packages: [] },
    env: {},
    processes: {},
    python_compile: false,
    rclone: {
      path: "djaploy/hello",
      schedule: "0 3 * * *",
      retention_days: 30,
      databases: [],
      media: true,
    },
    borg: {
      encryption: "repokey-blake2",
      compression: "lz4",
      schedule: "0 3 * * *",
      keep_hourly: 0,
      keep_daily: 7,
      keep_weekly: 4,
      keep_monthly: 6,
      lock_wait: 60,
      databases: [],
      media: true,
    },
    litestream: {
      version: "0.3.13",
      url: "https://github.com/benbjohnson/litestream/releases/download/v{version}/" +
        "litestream-v{version}-linux-{arch}.tar.gz",
      databases: [],
      replicas: [],
    },
    tailscale: {
      install: "repository",
      tags: [],
      extra_args: [],
      repository_url: "https://pkgs.tailscale.com/stable/debian",
      repository_key_url: "https://pkgs.tailscale.com/stable/debian/{codename}.noarmor.gpg",
      version: "1.76.6",
      url: "https://pkgs.tailscale.com/stable/tailscale_{version}_{arch}.tgz",
      cert: false,
    },
    systemd: { hardening: [] },
    hooks: {},
    release: {},
    extra: {},
  });
  assert.ok(
    Object.isFrozen(web1) && Object.isFrozen(web1.gunicorn) && Object.isFrozen(web1.services),
  );
});

Deno.test("host: host > inventory defaults > djaploy.toml > built-in", async () => {
  const [web1, web2] = await loadHosts({
    "infra/djaploy.toml": lines(
      'project_name = "hello"',
      'ssh_user = "ubuntu"',
      'app_user = "hello"',
      'python_version = "3.12"',
      'services = ["hello", "hello-worker"]',
      "[gunicorn]",
      "workers = 4",
      "timeout = 60",
    ),
    "infra/inventory/production.toml": lines(
      "[defaults]",
      'ssh_user = "admin"',
      'app_user = "web"',
      "ssh_port = 2222",
      "[defaults.gunicorn]",
      "workers = 8",
      "",
      "[[hosts]]",
      'name = "web1"',
      'ssh_hostname = "10.0.0.1"',
      'ssh_user = "root"',
      'services = ["hello"]',
      "gunicorn.extra_args = ['--preload']",
      "",
      "[[hosts]]",
      'name = "web2"',
      'ssh_hostname = "10.0.0.2"',
    ),
  });
  assert.equal(web1.ssh_user, "root"); // host
  assert.equal(web2.ssh_user, "admin"); // [defaults]
  assert.equal(web1.app_user, "web"); // [defaults] over djaploy.toml
  assert.equal(web1.python_version, "3.12"); // djaploy.toml
  assert.equal(web1.keep_releases, 5); // built-in
  assert.equal(web2.ssh_port, 2222);
  assert.deepEqual(web1.services, ["hello"]); // arrays replace
  assert.deepEqual(web2.services, ["hello", "hello-worker"]);
  // Tables merge key by key.
  assert.deepEqual(web1.gunicorn, {
    wsgi_module: "hello.wsgi:application",
    workers: 8,
    timeout: 60,
    preload_app: true,
    extra_args: ["--preload"],
  });
  assert.deepEqual(web2.gunicorn.extra_args, []);
});

Deno.test("host: [env] merges by key across levels; secret references become SecretRefs", async () => {
  const [web1, web2] = await loadHosts({
    "infra/djaploy.toml": lines(
      'project_name = "hello"',
      "[env]",
      'DEBUG = "1"',
      'SECRET_KEY = "env:HELLO_SECRET_KEY"',
      'LEVEL = "project"',
    ),
    "infra/inventory/production.toml": lines(
      "[defaults.env]",
      'DEBUG = "0"',
      'DATABASE_URL = "file:secrets/db_url"',
      "",
      "[[hosts]]",
      'name = "web1"',
      'ssh_hostname = "10.0.0.1"',
      "[hosts.env]",
      'LEVEL = "host"',
      'API_TOKEN = "op://prod/api/token"',
      "",
      "[[hosts]]",
      'name = "web2"',
      'ssh_hostname = "10.0.0.2"',
    ),
  });
  assert.deepEqual(web1.env, {
    DEBUG: "0",
    SECRET_KEY: { kind: "env", target: "HELLO_SECRET_KEY", source: "env:HELLO_SECRET_KEY" },
    LEVEL: "host",
    DATABASE_URL: { kind: "file", target: "secrets/db_url", source: "file:secrets/db_url" },
    API_TOKEN: { kind: "op", target: "op://prod/api/token", source: "op://prod/api/token" },
  });
  assert.equal(web2.env.LEVEL, "project");
  assert.equal(web2.env.API_TOKEN, undefined);
});

Deno.test("host: derived defaults follow the values they derive from", async () => {
  const [web1, web2, web3] = await loadHosts({
    "infra/djaploy.toml": lines(
      'project_name = "hello"',
      "[nginx]",
      'server_name = "_ *.example.com www.example.com"',
    ),
    "infra/inventory/production.toml": lines(
      "[[hosts]]",
      'name = "web1"',
      'ssh_hostname = "10.0.0.1"',
      'project_name = "shop"',
      "",
      "[[hosts]]",
      'name = "web2"',
      'ssh_hostname = "10.0.0.2"',
      'app_name = "shop-api"',
      'nginx.server_name = "_"',
      "",
      "[[hosts]]",
      'name = "web3"',
      'ssh_hostname = "10.0.0.3"',
      'health_check.host = "internal.example.com"',
      'gunicorn.wsgi_module = "config.wsgi:app"',
    ),
  });
  assert.equal(web1.app_name, "shop");
  assert.deepEqual(web1.services, ["shop"]);
  assert.equal(web1.gunicorn.wsgi_module, "shop.wsgi:application");
  assert.equal(web1.health_check.host, "www.example.com");
  assert.equal(web2.app_name, "shop-api");
  assert.deepEqual(web2.services, ["shop-api"]);
  assert.equal(web2.gunicorn.wsgi_module, "hello.wsgi:application");
  // server_name "_": the Host is the address the inventory names (what a visitor types).
  assert.equal(web2.health_check.host, "10.0.0.2");
  assert.equal(web3.health_check.host, "internal.example.com");
  assert.equal(web3.gunicorn.wsgi_module, "config.wsgi:app");
});

Deno.test("host: modules become ModuleRefs; a custom module's table goes to extra", async () => {
  const sha = "AB".repeat(32);
  await withFiles(
    {
      "infra/djaploy.toml": lines(
        'project_name = "hello"',
        MODULES_LINE,
        "[certs]",
        'email = "ops@example.com"',
        "[certs.domains]",
        'main = "example.com"',
      ),
      "infra/inventory/production.toml": lines(
        "[defaults.certs.domains]",
        'extra = "www.example.com"',
        "",
        "[[hosts]]",
        'name = "web1"',
        'ssh_hostname = "10.0.0.1"',
        "[hosts.certs]",
        'email = "web1@example.com"',
        "",
        "[[hosts]]",
        'name = "web2"',
        'ssh_hostname = "10.0.0.2"',
        `modules = ["core", "https://example.com/x/backups.ts", { url = "https://example.com/metrics.ts", sha256 = "${sha}" }]`,
        "[hosts.backups]",
        'bucket = "b"',
      ),
    },
    async (dir) => {
      const project = await loadProject({ cwd: dir });
      const [web1, web2] = (await loadEnvironment(project, "production")).hosts;
      assert.deepEqual(web1.modules, [
        { spec: "core", kind: "builtin" },
        {
          spec: "./infra/modules/certs.ts",
          kind: "path",
          path: join(dir, "infra", "modules", "certs.ts"),
        },
      ]);
      assert.deepEqual(web1.extra, {
        certs: {
          email: "web1@example.com",
          domains: { main: "example.com", extra: "www.example.com" },
        },
      });
      assert.deepEqual(web2.modules, [
        { spec: "core", kind: "builtin" },
        { spec: "https://example.com/x/backups.ts", kind: "url" },
        { spec: "https://example.com/metrics.ts", kind: "url", sha256: sha.toLowerCase() },
      ]);
      // web2 does not run certs, so its settings are not passed on.
      assert.deepEqual(web2.extra, { backups: { bucket: "b" } });
    },
  );
});

Deno.test("host: ssh_options reach the host in order, the inventory's over the project's", async () => {
  const [web1, web2] = await loadHosts({
    "infra/djaploy.toml": lines(
      'project_name = "hello"',
      'ssh_options = ["KexAlgorithms=curve25519-sha256", "ConnectTimeout=30"]',
    ),
    "infra/inventory/production.toml": PRODUCTION.replace(
      /(\[\[hosts\]\]\nname = "web2")/,
      '$1\nssh_options = ["ProxyJump=bastion.example.com"]',
    ),
  });
  assert.deepEqual(web1.ssh_options, ["KexAlgorithms=curve25519-sha256", "ConnectTimeout=30"]);
  assert.deepEqual(web2.ssh_options, ["ProxyJump=bastion.example.com"]);
});

Deno.test("host: ~ in ssh_key and known_hosts_file is the home folder", async () => {
  const saved = Deno.env.get("HOME");
  Deno.env.set("HOME", "/home/tester");
  try {
    const [web1] = await loadHosts({
      "infra/djaploy.toml": lines(
        'project_name = "hello"',
        'ssh_key = "~/.ssh/deploy_ed25519"',
        'known_hosts_file = "~/.ssh/known_hosts_djaploy"',
        "strict_host_key_checking = true",
      ),
      "infra/inventory/production.toml": PRODUCTION,
    });
    assert.equal(web1.ssh_key, "/home/tester/.ssh/deploy_ed25519");
    assert.equal(web1.known_hosts_file, "/home/tester/.ssh/known_hosts_djaploy");
    assert.equal(web1.strict_host_key_checking, true);
  } finally {
    if (saved === undefined) Deno.env.delete("HOME");
    else Deno.env.set("HOME", saved);
  }
});

Deno.test("environment: --hosts selects hosts in inventory order", async () => {
  await withFiles(
    { "infra/djaploy.toml": PROJECT, "infra/inventory/production.toml": PRODUCTION },
    async (dir) => {
      const project = await loadProject({ cwd: dir });
      const all = await loadEnvironment(project, "production");
      assert.equal(all.name, "production");
      assert.equal(all.inventory_path, join(dir, "infra", "inventory", "production.toml"));
      assert.deepEqual(all.hosts.map((h) => h.name), ["web1", "web2"]);
      const some = await loadEnvironment(project, "production", { hosts: ["web2", "web1"] });
      assert.deepEqual(some.hosts.map((h) => h.name), ["web1", "web2"]);
      const one = await loadEnvironment(project, "production", { hosts: ["web2"] });
      assert.deepEqual(one.hosts.map((h) => h.ssh_hostname), ["10.0.0.2"]);
    },
  );
});

Deno.test("environment: works with a ProjectConfig built by hand (settings are read again)", async () => {
  await withFiles(
    {
      "infra/djaploy.toml": lines('project_name = "hello"', 'ssh_user = "ubuntu"'),
      "infra/inventory/production.toml": PRODUCTION,
    },
    async (dir) => {
      const project: ProjectConfig = {
        config_path: join(dir, "infra", "djaploy.toml"),
        infra_dir: join(dir, "infra"),
        repo_dir: dir,
        project_name: "hello",
        prepare: { commands: [] },
        environments: ["production"],
      };
      const env = await loadEnvironment(project, "production");
      assert.equal(env.hosts[0].ssh_user, "ubuntu");
    },
  );
});

Deno.test("host: the grammars accept what real configs hold", async () => {
  const hosts = await loadHosts({
    "infra/djaploy.toml": lines(
      'project_name = "hello"',
      "[nginx]",
      "server_name = '_ example.com *.example.com .example.org www.example.* " +
        "~^app[0-9]+[.]example[.]net$'",
    ),
    "infra/inventory/production.toml": lines(
      ...["[[hosts]]", 'name = "web1"', 'ssh_hostname = "2001:db8::1"'],
      ...["[hosts.health_check]", 'host = "[2001:db8::1]:8080"'],
      ...["[[hosts]]", 'name = "web2"', 'ssh_hostname = "fe80::1%eth0"'],
      ...["[hosts.health_check]", 'host = "localhost:8000"'],
      ...["[[hosts]]", 'name = "web3"', 'ssh_hostname = "my_server"'],
      ...["[[hosts]]", 'name = "web4"', 'ssh_hostname = "web4.example.com."'],
      'ssh_options = ["ProxyJump=ops@bastion.example.com:2222,ssh://[2001:db8::9]:22"]',
    ),
  });
  assert.deepEqual(hosts.map((h) => h.ssh_hostname), [
    "2001:db8::1",
    "fe80::1%eth0",
    "my_server",
    "web4.example.com.",
  ]);
  assert.deepEqual(hosts.map((h) => h.health_check.host), [
    "[2001:db8::1]:8080",
    "localhost:8000",
    "example.com",
    "example.com",
  ]);
  assert.deepEqual(hosts[3].ssh_options, [
    "ProxyJump=ops@bastion.example.com:2222,ssh://[2001:db8::9]:22",
  ]);
});

Deno.test("defaultHealthHost: a concrete server name, else ssh_hostname, else localhost", () => {
  assert.equal(
    defaultHealthHost("_ *.example.com .example.org www.example.com", "10.0.0.1"),
    "www.example.com",
  );
  assert.equal(defaultHealthHost("_", "web1.example.com"), "web1.example.com");
  assert.equal(defaultHealthHost("_", "2001:db8::1%eth0"), "[2001:db8::1]");
  // An alias from ~/.ssh/config with "_" is no Host header.
  assert.equal(defaultHealthHost("_", "my_server"), "localhost");
  assert.equal(defaultHealthHost("_"), "localhost");
});

Deno.test("environment: canary from djaploy.toml, overridden by the inventory's [defaults]", async () => {
  const load = (files: Files) =>
    withFiles(files, async (dir) => {
      const project = await loadProject({ cwd: dir });
      return (await loadEnvironment(project, "production")).canary;
    });
  assert.equal(
    await load({ "infra/djaploy.toml": PROJECT, "infra/inventory/production.toml": PRODUCTION }),
    0,
  );
  assert.equal(
    await load({
      "infra/djaploy.toml": lines('project_name = "hello"', "canary = 2"),
      "infra/inventory/production.toml": PRODUCTION,
    }),
    2,
  );
  assert.equal(
    await load({
      "infra/djaploy.toml": lines('project_name = "hello"', "canary = 2"),
      "infra/inventory/production.toml": lines("[defaults]", "canary = 1", "") + PRODUCTION,
    }),
    1,
  );
});

Deno.test("environment: max_fail from djaploy.toml, overridden by the inventory's [defaults]", async () => {
  const load = (files: Files) =>
    withFiles(files, async (dir) => {
      const project = await loadProject({ cwd: dir });
      return (await loadEnvironment(project, "production")).max_fail;
    });
  assert.equal(
    await load({ "infra/djaploy.toml": PROJECT, "infra/inventory/production.toml": PRODUCTION }),
    0,
  );
  assert.equal(
    await load({
      "infra/djaploy.toml": lines('project_name = "hello"', "max_fail = 3"),
      "infra/inventory/production.toml": PRODUCTION,
    }),
    3,
  );
  assert.equal(
    await load({
      "infra/djaploy.toml": lines('project_name = "hello"', "max_fail = 3"),
      "infra/inventory/production.toml": lines("[defaults]", 'max_fail = "25%"', "") + PRODUCTION,
    }),
    "25%",
  );
});
