/**
 * The operations modules' tables ([rclone], [borg], [litestream],
 * [tailscale]) and the python_compile keys. Kept apart from schema.ts for
 * size; schema.ts lists them among its SECTIONS and TOP_LEVEL_KEYS.
 * docs/operations-modules.md explains them with examples.
 */
import type { KeySpec, SectionSpec } from "./spec.ts";
import {
  BORG_ENCRYPTIONS,
  type LitestreamReplica,
  REPLICA_TYPES,
  type ReplicaType,
  TAILSCALE_INSTALLS,
} from "./types.ts";
import { parseSecretRef, type SecretRef } from "../secrets/secret.ts";
import { CronError, cronToOnCalendar } from "../backup/cron.ts";
import {
  arrayOf,
  boolean,
  describe,
  integer,
  Invalid,
  isTable,
  matching,
  noControl,
  oneOf,
  quoteList,
  refine,
  string,
  tableEntry,
} from "./validators.ts";

const SHA256 = /^[0-9a-fA-F]{64}$/;
/** A file below the data folder: relative, no "..". */
const DATA_FILE = /^(?!\/)(?!(.*\/)?\.\.(\/|$))[^\0\n]+$/;
const ALL = ["project", "defaults", "host"] as const;

const schedule = refine(string(), (s) => {
  try {
    cronToOnCalendar(s);
  } catch (e) {
    if (e instanceof CronError) {
      throw new Invalid(`must be a cron schedule: ${e.message}: got ${describe(s)}`);
    }
    throw e;
  }
  return s.trim();
});

/** A value that must not be written in the file: env:, file: or op:// only. */
function secretRef(what: string) {
  return (value: unknown): SecretRef => {
    const ref = parseSecretRef(string()(value));
    if (!ref) {
      throw new Invalid(
        `must be a secret reference ("env:NAME", "file:PATH" or "op://..."), so that the ${what} ` +
          "is not committed with the config: got a plain value",
      );
    }
    return ref;
  };
}

const sha256 = refine(string(), (s) => {
  if (!SHA256.test(s)) throw new Invalid(`must be 64 hex digits (a SHA-256): got ${describe(s)}`);
  return s.toLowerCase();
});

const httpUrl = refine(string(), (s) => {
  if (!/^https?:\/\/[^\s]+$/.test(s)) {
    throw new Invalid(`must be an http:// or https:// URL: got ${describe(s)}`);
  }
  return s;
});

const dataFiles = arrayOf(matching(DATA_FILE));
/** A file below the data folder, or an absolute path (checked against app_user when loaded). */
const backupFiles = arrayOf(refine(string(), (s) => {
  const rel = s.startsWith("/") ? s.slice(1) : s;
  if (!DATA_FILE.test(rel)) {
    throw new Invalid(
      "must be an absolute path in /home/<app_user>/ or a path relative to " +
        `/home/<app_user>/data, without "..": got ${describe(s)}`,
    );
  }
  return s;
}));

/** rclone options that hold credentials: they must be secret references. */
const SECRET_OPTION = /pass|secret|token|key_pem|session/;

function rcloneRemote(value: unknown): Record<string, string | SecretRef> {
  if (!isTable(value)) {
    throw new Invalid(
      `must be a table of rclone options ([rclone.remote]): got ${describe(value)}`,
    );
  }
  const out: Record<string, string | SecretRef> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!/^[a-z][a-z0-9_]*$/.test(key)) {
      throw new Invalid(`must be an rclone option name (lower case, "_"): got ${describe(key)}`, [
        key,
      ]);
    }
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
      throw new Invalid(`must be a string, number or boolean: got ${describe(v)}`, [key]);
    }
    const text = String(v);
    const ref = typeof v === "string" ? parseSecretRef(v) : undefined;
    if (!ref && SECRET_OPTION.test(key)) {
      throw new Invalid(
        'must be a secret reference ("env:NAME", "file:PATH" or "op://..."), so that the ' +
          "credential is not committed with the config: got a plain value",
        [key],
      );
    }
    try {
      noControl(text);
    } catch (e) {
      if (e instanceof Invalid) throw new Invalid(e.problem, [key]);
      throw e;
    }
    out[key] = ref ?? text;
  }
  if (out.type === undefined) {
    throw new Invalid('is required: the rclone backend, e.g. "sftp" or "s3"', ["type"]);
  }
  if (typeof out.type !== "string" || !/^[a-z0-9]+$/.test(out.type)) {
    throw new Invalid(`must be an rclone backend name: got ${describe(value.type)}`, ["type"]);
  }
  return out;
}

const REPLICA_KEYS: Readonly<Record<string, string>> = {
  type: `${quoteList(REPLICA_TYPES)} (required).`,
  path: "Folder (file, sftp) or key prefix (s3); each database is replicated to " +
    "`<path>/<database file name>` (required).",
  bucket: "s3: the bucket (required for s3).",
  endpoint: "s3: the endpoint of an S3-compatible service (MinIO, Backblaze B2, R2, ...).",
  region: "s3: the region.",
  access_key_id: "s3: the access key id (a value or a secret reference).",
  secret_access_key: "s3: the secret key: a secret reference.",
  force_path_style: "s3: path-style URLs (most S3-compatible services want true).",
  host: 'sftp: `"host:port"` (required for sftp).',
  user: "sftp: the user.",
  password: "sftp: the password: a secret reference.",
  key_path: "sftp: a private key file on the server.",
  retention: 'How long snapshots and WAL are kept, e.g. `"72h"` (litestream\'s default otherwise).',
  sync_interval:
    'How often WAL changes are shipped, e.g. `"1s"` (litestream\'s default otherwise).',
};

function replica(value: unknown, index: number): LitestreamReplica {
  const { field, required } = tableEntry(value, index, {
    name: "litestream.replicas",
    keys: Object.keys(REPLICA_KEYS),
  });
  const type = required("type", oneOf(REPLICA_TYPES)) as ReplicaType;
  const out: LitestreamReplica = {
    type,
    path: required("path", matching(/^[^\s]+$/)),
    bucket: type === "s3" ? required("bucket", matching(/^[a-z0-9][a-z0-9.-]{1,62}$/)) : undefined,
    endpoint: field("endpoint", httpUrl),
    region: field("region", matching(/^[a-z0-9-]+$/)),
    access_key_id: field("access_key_id", (v) => parseSecretRef(string()(v)) ?? string()(v)),
    secret_access_key: field("secret_access_key", secretRef("secret key")),
    force_path_style: field("force_path_style", boolean()),
    host: type === "sftp" ? required("host", matching(/^[^\s:]+:\d+$/)) : undefined,
    user: field("user", matching(/^[^\s]+$/)),
    password: field("password", secretRef("password")),
    key_path: field("key_path", matching(/^\/[^\s]*$/)),
    retention: field("retention", matching(/^\d+[smh]$/)),
    sync_interval: field("sync_interval", matching(/^\d+(ms|s|m)$/)),
  };
  return Object.fromEntries(
    Object.entries(out).filter(([, v]) => v !== undefined),
  ) as unknown as LitestreamReplica;
}

function replicas(value: unknown): LitestreamReplica[] {
  if (!Array.isArray(value)) {
    throw new Invalid(
      `must be an array of tables ([[litestream.replicas]]): got ${describe(value)}`,
    );
  }
  return value.map((v, i) => replica(v, i));
}

/** The replica keys as markdown, for docs/configuration.md. */
const REPLICA_KEYS_DOC = "Keys of each `[[litestream.replicas]]` table:\n\n" +
  markdownTable(["Key", "Meaning"], Object.entries(REPLICA_KEYS).map(([k, v]) => [`\`${k}\``, v]));

/** A markdown table padded the way `deno fmt` pads it. */
function markdownTable(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => c.replaceAll("|", "\\|")));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

const DATABASES_DOC = "SQLite files to back up: absolute paths in `/home/<app_user>/` (the job " +
  "runs as the app user), or paths relative to `/home/<app_user>/data`. Empty: the file " +
  "`DATABASE_PATH` (or a `sqlite:////...` `DATABASE_URL`) in [env] names, else every SQLite file " +
  "in `/home/<app_user>/data` at backup time. Required when those are secret references. A " +
  "listed file that is missing fails the backup.";
const MEDIA_DOC = "Back up `MEDIA_ROOT` (`shared/media`) and the `shared_resources` folders too.";

/** The python_compile keys (top level: they decide which Python the app runs on). */
export const PYTHON_SOURCE_KEYS: Readonly<Record<string, KeySpec>> = {
  python_compile: {
    type: "boolean",
    scopes: ALL,
    parse: boolean(),
    defaultValue: false,
    doc: "Build `python_version` from source into `/opt/python<version>` (for distributions that " +
      "do not package it), cached: a second configure does not rebuild. Needs `python_source_url` " +
      "and `python_source_sha256`.",
  },
  python_source_url: {
    type: "string",
    scopes: ALL,
    parse: httpUrl,
    defaultText: "none (required with python_compile)",
    doc: "The CPython source archive (`.tgz` or `.tar.xz`) of a `python_version` release, e.g. " +
      "`https://www.python.org/ftp/python/3.12.8/Python-3.12.8.tgz`.",
  },
  python_source_sha256: {
    type: "string",
    scopes: ALL,
    parse: sha256,
    defaultText: "none (required with python_compile)",
    doc: "The archive's SHA-256: checked on this machine before anything is sent or built.",
  },
};

/** The four tables, in the order their defaults are resolved. */
export function operationsSections(): SectionSpec[] {
  return [
    {
      name: "rclone",
      doc: "Scheduled backups of the SQLite databases (taken with SQLite's backup API, never a " +
        "copy of a live file) and media files to an rclone remote, with the `rclone` module and " +
        "`djaploy restore --backend rclone`. See docs/operations-modules.md.",
      scopes: ALL,
      keys: {
        remote: {
          type: "table",
          parse: rcloneRemote,
          defaultText: "none (required by the module)",
          doc:
            "`[rclone.remote]`: the remote's rclone options (`type`, then e.g. `host`, `user`, " +
            "`pass` for sftp; `provider`, `endpoint`, `access_key_id`, `secret_access_key` for " +
            "s3). Options with pass, secret, token or key_pem in their name must be secret " +
            "references.",
        },
        path: {
          type: "string",
          parse: matching(/^[^\s]+$/),
          derive: (r) => `djaploy/${r.app_name}`,
          defaultText: '`"djaploy/<app_name>"`',
          doc: "The folder on the remote; a host's backups go to `<path>/<env>/<host>/<time>/`.",
        },
        schedule: {
          type: "string",
          parse: schedule,
          defaultValue: "0 3 * * *",
          doc: "When to back up, in cron syntax (`@daily` too), run by a systemd timer.",
        },
        retention_days: {
          type: "integer",
          parse: integer({ min: 1 }),
          defaultValue: 30,
          doc: "Backups older than this are deleted after each backup (the newest is always kept).",
        },
        databases: {
          type: "array of strings",
          parse: backupFiles,
          defaultValue: [],
          doc: DATABASES_DOC,
        },
        media: { type: "boolean", parse: boolean(), defaultValue: true, doc: MEDIA_DOC },
      },
    },
    {
      name: "borg",
      doc: "Scheduled borgbackup archives of the SQLite databases and media files, with the " +
        "`borg` module and `djaploy restore --backend borg`. See docs/operations-modules.md.",
      scopes: ALL,
      keys: {
        repository: {
          type: "string",
          parse: matching(/^(ssh:\/\/[^\s/]+(:\d+)?\/[^\s]*|\/[^\s]*|[^\s/:]+@[^\s/:]+:[^\s]*)$/),
          defaultText: "none (required by the module)",
          doc: 'The repository: `"ssh://user@host:port/./path"` (a storage box), or a path on ' +
            "the server.",
        },
        remote_path: {
          type: "string",
          parse: matching(/^[^\s]+$/),
          defaultText: "none (`borg`)",
          doc: "borg's program on the repository's host (`--remote-path`), e.g. `\"borg-1.2\"`.",
        },
        passphrase: {
          type: "string",
          parse: secretRef("passphrase"),
          defaultText: "none (required by the module)",
          doc: "The repository's passphrase: a secret reference. Kept on the server in a 0600 " +
            "file that borg reads through `BORG_PASSCOMMAND`.",
        },
        ssh_key: {
          type: "string",
          parse: secretRef("key"),
          defaultText: "none (app user's ssh keys)",
          doc: "A private key for ssh to the repository: a secret reference (`file:~/.ssh/...`), " +
            "kept on the server in a 0600 file.",
        },
        encryption: {
          type: quoteList(BORG_ENCRYPTIONS).replaceAll(", ", " | "),
          parse: oneOf(BORG_ENCRYPTIONS),
          defaultValue: "repokey-blake2",
          doc: "Used when `configure` creates the repository (repokey modes keep the key in the " +
            "repository, so any machine with the passphrase can restore).",
        },
        compression: {
          type: "string",
          parse: matching(
            /^(none|lz4|zstd(,\d{1,2})?|zlib(,\d)?|lzma(,\d)?|auto,(lz4|zstd(,\d{1,2})?|zlib(,\d)?|lzma(,\d)?))$/,
          ),
          defaultValue: "lz4",
          doc: 'borg\'s `--compression`, e.g. `"zstd,3"`.',
        },
        schedule: {
          type: "string",
          parse: schedule,
          defaultValue: "0 3 * * *",
          doc: "When to back up, in cron syntax (`@daily` too), run by a systemd timer.",
        },
        keep_within: {
          type: "string",
          parse: matching(/^\d+[Hdwmy]$/),
          defaultText: "none",
          doc: 'Keep every archive of this period, e.g. `"2d"` (`borg prune --keep-within`).',
        },
        keep_hourly: {
          type: "integer",
          parse: integer({ min: 0 }),
          defaultValue: 0,
          doc: "Hourly archives to keep.",
        },
        keep_daily: {
          type: "integer",
          parse: integer({ min: 0 }),
          defaultValue: 7,
          doc: "Daily archives to keep.",
        },
        keep_weekly: {
          type: "integer",
          parse: integer({ min: 0 }),
          defaultValue: 4,
          doc: "Weekly archives to keep.",
        },
        keep_monthly: {
          type: "integer",
          parse: integer({ min: 0 }),
          defaultValue: 6,
          doc: "Monthly archives to keep.",
        },
        lock_wait: {
          type: "integer",
          parse: integer({ min: 1 }),
          defaultValue: 60,
          doc: "Seconds a backup waits for the repository's lock. A lock left by a backup that " +
            "died is broken only when no borg process runs on the server.",
        },
        databases: {
          type: "array of strings",
          parse: backupFiles,
          defaultValue: [],
          doc: DATABASES_DOC,
        },
        media: { type: "boolean", parse: boolean(), defaultValue: true, doc: MEDIA_DOC },
      },
    },
    {
      name: "litestream",
      doc: "Continuous replication of SQLite databases with litestream (the `litestream` module " +
        "and `djaploy restore --backend litestream`). See docs/operations-modules.md.",
      scopes: ALL,
      notes: REPLICA_KEYS_DOC,
      keys: {
        version: {
          type: "string",
          parse: matching(/^\d+\.\d+\.\d+$/),
          defaultValue: "0.3.13",
          doc: "The litestream release.",
        },
        url: {
          type: "string",
          parse: httpUrl,
          defaultValue: "https://github.com/benbjohnson/litestream/releases/download/" +
            "v{version}/litestream-v{version}-linux-{arch}.tar.gz",
          doc: "The release archive, downloaded on this machine; `{version}` and `{arch}` " +
            "(`amd64`, `arm64`) are filled in.",
        },
        sha256: {
          type: "string",
          parse: sha256,
          defaultText: "none (required by the module)",
          doc: "The archive's SHA-256, checked before anything is installed (a mismatch is " +
            "refused). Set it per host for servers of another architecture.",
        },
        databases: {
          type: "array of strings",
          parse: dataFiles,
          defaultValue: [],
          doc: "SQLite files to replicate, relative to `/home/<app_user>/data` (at least one).",
        },
        replicas: {
          type: "array of tables",
          parse: replicas,
          defaultValue: [],
          doc: "Where to replicate: `[[litestream.replicas]]` tables (keys below).",
        },
      },
    },
    {
      name: "tailscale",
      doc: "Joins the hosts to a tailnet with the `tailscale` module. See " +
        "docs/operations-modules.md.",
      scopes: ALL,
      keys: {
        install: {
          type: quoteList(TAILSCALE_INSTALLS).replaceAll(", ", " | "),
          parse: oneOf(TAILSCALE_INSTALLS),
          defaultValue: "repository",
          doc: "`repository`: Tailscale's apt repository; `binary`: the static release archive " +
            "(`url` and `sha256`).",
        },
        auth_key: {
          type: "string",
          parse: secretRef("auth key"),
          defaultText: "none (required by the module)",
          doc: "The auth key: a secret reference, handed to `tailscale up` in a 0600 file " +
            "(never in its arguments).",
        },
        hostname: {
          type: "string",
          parse: matching(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/),
          defaultText: "none (the server's hostname)",
          doc: "The node's name in the tailnet.",
        },
        tags: {
          type: "array of strings",
          parse: arrayOf(matching(/^tag:[A-Za-z0-9-]+$/)),
          defaultValue: [],
          doc: 'ACL tags to advertise, e.g. `["tag:web"]`.',
        },
        extra_args: {
          type: "array of strings",
          parse: arrayOf(matching(/^--[a-z-]+(=.*)?$/)),
          defaultValue: [],
          doc: 'More `tailscale up` flags, e.g. `["--ssh"]`.',
        },
        repository_url: {
          type: "string",
          parse: httpUrl,
          defaultValue: "https://pkgs.tailscale.com/stable/debian",
          doc: "install = repository: the apt repository.",
        },
        repository_key_url: {
          type: "string",
          parse: httpUrl,
          defaultValue: "https://pkgs.tailscale.com/stable/debian/{codename}.noarmor.gpg",
          doc: "install = repository: its signing key; `{codename}` is the server's Debian " +
            "release (bookworm).",
        },
        repository_key_sha256: {
          type: "string",
          parse: sha256,
          defaultText: "none (not pinned)",
          doc: "install = repository: the signing key's SHA-256, checked when set.",
        },
        version: {
          type: "string",
          parse: matching(/^\d+\.\d+\.\d+$/),
          defaultValue: "1.76.6",
          doc: "install = binary: the release.",
        },
        url: {
          type: "string",
          parse: httpUrl,
          defaultValue: "https://pkgs.tailscale.com/stable/tailscale_{version}_{arch}.tgz",
          doc: "install = binary: the static archive; `{version}` and `{arch}` are filled in.",
        },
        sha256: {
          type: "string",
          parse: sha256,
          defaultText: "none (required for install = binary)",
          doc: "install = binary: the archive's SHA-256 (a mismatch is refused).",
        },
        cert: {
          type: "boolean",
          parse: boolean(),
          defaultValue: false,
          doc: "Fetch the node's HTTPS certificate with `tailscale cert` into " +
            "`/etc/djaploy/tailscale/` on each configure. With the `certs` module (listed after " +
            "`tailscale`), nginx serves it over HTTPS for the node's tailnet name, and " +
            "`sync-certs` and `renew-certs` renew it (docs/certificates.md).",
        },
      },
    },
  ];
}
