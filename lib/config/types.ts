/**
 * The validated, immutable configuration that everything downstream reads.
 * Field names follow the TOML keys (and the Python djaploy's HostConfig) so
 * that a key in a config file and a property in code have the same name.
 */
import type { SecretRef } from "../secrets/secret.ts";
import type { Protection } from "../../templates/hardening.ts";
import type { MaxFail } from "./max_fail.ts";

/** How a host deploys: see docs/strategies.md. */
export type Strategy = "in_place" | "zero_downtime" | "bluegreen";
export const STRATEGIES: readonly Strategy[] = ["in_place", "zero_downtime", "bluegreen"];

/** The tool that installs the app's Python dependencies. */
export type DependencyManager = "poetry" | "uv" | "pip";
export const DEPENDENCY_MANAGERS: readonly DependencyManager[] = ["poetry", "uv", "pip"];

/** A value of `[env]`: a plain string or a reference resolved on the deploying machine. */
export type EnvValue = string | SecretRef;

/** How the ACME server checks a name: an HTTP file (HTTP-01) or a DNS TXT record (DNS-01). */
export type ChallengeType = "http" | "dns";
export const CHALLENGES: readonly ChallengeType[] = ["http", "dns"];
/** Where certbot runs: on this machine, which pushes certificates out, or on each server. */
export type IssueOn = "controller" | "server";
export const ISSUE_ON: readonly IssueOn[] = ["controller", "server"];
/** DNS providers for DNS-01 (lib/certs/dns/ has one file per provider). */
export const DNS_PROVIDERS: readonly string[] = ["bunny"];

/** One `[[certificates.domains]]` entry: a certificate and the names it covers. */
export interface CertDomainConfig {
  /** The certificate's first name; also its folder name locally and on the servers. */
  readonly name: string;
  /** More names the certificate covers. */
  readonly alt_names: readonly string[];
  /** How the names are checked. */
  readonly challenge: ChallengeType;
  /** For challenge "dns": a name from DNS_PROVIDERS. */
  readonly dns_provider?: string;
  /** The DNS provider's settings; API keys, secrets, tokens and passwords are secret references. */
  readonly credentials: Readonly<Record<string, SecretRef | string>>;
  /** Inventory host names; undefined: every host of the environment whose nginx serves a name. */
  readonly hosts?: readonly string[];
  /** Send Strict-Transport-Security on HTTPS. */
  readonly hsts: boolean;
}

/** `[certificates]` (djaploy.toml, or an inventory's [defaults]). */
export interface CertificatesConfig {
  /** The ACME account's contact address (expiry warnings from the CA go there). */
  readonly email?: string;
  /**
   * The ACME server's directory URL: Let's Encrypt, its staging server (`--staging` picks it for
   * one run) or any other ACME CA.
   */
  readonly acme_directory: string;
  /** A local PEM file of extra CAs to trust for the ACME server (private or test CAs). */
  readonly acme_ca_bundle?: string;
  /** Renew a certificate when it expires within this many days. */
  readonly renew_before_days: number;
  /** The local certificate store; default ~/.local/share/djaploy/certs/<project_name>. */
  readonly store?: string;
  /**
   * `configure` puts a self-signed certificate in place for names that have none yet, so nginx
   * serves HTTPS (with a warning) before the first issuance.
   */
  readonly pregenerate_certificates: boolean;
  /**
   * Where certbot runs: on each server (`--webroot`; one server per HTTP-01 name) or on this
   * machine, which then pushes certificates to every host of a name.
   */
  readonly issue_on: IssueOn;
  /** A shell command run on this machine when renew-certs fails (the message on stdin). */
  readonly notify_command?: string;
  /** The certificates: one `[[certificates.domains]]` table each. */
  readonly domains: readonly CertDomainConfig[];
}

/** `[dependencies]`: how the app's Python dependencies are installed. */
export interface DependenciesConfig {
  /** Detected from the lock file in the repository when not set. */
  readonly manager?: DependencyManager;
  /** Extra arguments for the install command. */
  readonly install_args: readonly string[];
  /** Whether the virtualenv sees the system's Python packages. */
  readonly system_site_packages: boolean;
  /** The package index pip and uv use (and tools are installed from); PyPI when unset. */
  readonly index_url?: string | SecretRef;
  /** More package indexes, searched besides `index_url`; credentials as for `index_url`. */
  readonly extra_index_urls: readonly (string | SecretRef)[];
  /** Poetry from the index at this version; Debian's python3-poetry when unset. */
  readonly poetry_version?: string;
  /**
   * The uv `configure` installs (`uv==<version>` from the package index, as a wheel) into
   * /opt/djaploy/tools/uv-<version> when `manager` is `"uv"`; installed once, reused.
   */
  readonly uv_version: string;
}

/** `[gunicorn]`: the app server. */
export interface GunicornConfig {
  /** The WSGI application gunicorn serves. */
  readonly wsgi_module: string;
  /** Number of worker processes. */
  readonly workers: number;
  /** Seconds a worker may take for a request before it is restarted. */
  readonly timeout: number;
  /**
   * Load the app once in gunicorn's master before forking the workers (`--preload`): one import
   * instead of one per worker, so a new release answers sooner.
   */
  readonly preload_app: boolean;
  /** Extra command-line arguments for gunicorn. */
  readonly extra_args: readonly string[];
}

/** `[nginx]`: the site in front of gunicorn. */
export interface NginxConfig {
  /** nginx server_name: the domains served, separated by spaces (`_`: any). */
  readonly server_name: string;
  /** The port nginx listens on. */
  readonly listen: number;
  /** The largest request body nginx accepts. */
  readonly client_max_body_size: string;
}

/** `[health_check]`: the HTTP check a new release must pass before it gets traffic. */
export interface HealthCheckConfig {
  /** false: no HTTP check before traffic moves. */
  readonly enabled: boolean;
  /** Empty: `/`. */
  readonly path: string;
  /** Unset: 200 with a path, any 2xx or 3xx for the default `/`. */
  readonly expected_status?: number;
  /**
   * How many times to probe while the app answers nothing, 502, 503 or 504 (booting), within
   * `retries` × `interval` seconds; any other wrong answer fails at once.
   */
  readonly retries: number;
  /** Seconds between tries. */
  readonly interval: number;
  /** Host header of the probe; default: the first concrete nginx server_name, else ssh_hostname, else "localhost". */
  readonly host: string;
}

/** `[system]`: what the app needs from the server's distribution. */
export interface SystemConfig {
  /** Debian packages configure installs. */
  readonly packages: readonly string[];
}

/** `[prepare]`: commands run on this machine before the artifact is built. */
export interface PrepareConfig {
  /** Shell commands, run in order; a failure stops the deploy. */
  readonly commands: readonly string[];
}

/** `[artifact]`. */
export interface ArtifactConfig {
  /** Build outputs added to the artifact, relative to the project's folder. */
  readonly include: readonly string[];
}

/** A module as listed in `modules`: a built-in name, a path, or a URL with an optional pin. */
export interface ModuleRef {
  /** As written: a built-in name, a path or a URL. */
  readonly spec: string;
  /** For a URL: the SHA-256 the module's content must have before any of it runs. */
  readonly sha256?: string;
  /** Which form `spec` has (set by the config loader). */
  readonly kind?: "builtin" | "path" | "url";
  /** For a path module: the absolute path (a relative spec is relative to the repository root). */
  readonly path?: string;
}

/** `[rclone]`: scheduled backups to an rclone remote (modules/rclone, docs/operations-modules.md). */
export interface RcloneConfig {
  /** `[rclone.remote]`: the remote's rclone options; password-like ones are secret references. */
  readonly remote?: Readonly<Record<string, string | SecretRef>>;
  /** The folder on the remote; each host's backups go to `<path>/<env>/<host>/`. */
  readonly path: string;
  /** Cron syntax, run by a systemd timer. */
  readonly schedule: string;
  /** Backups older than this are deleted after each backup (the newest is always kept). */
  readonly retention_days: number;
  /** SQLite files relative to /home/<app_user>/data; empty: every SQLite file there. */
  readonly databases: readonly string[];
  /** Back up MEDIA_ROOT and shared_resources too. */
  readonly media: boolean;
}

/** borg's `--encryption` mode for a new repository. */
export type BorgEncryption =
  | "repokey-blake2"
  | "repokey"
  | "authenticated-blake2"
  | "authenticated"
  | "none";
export const BORG_ENCRYPTIONS: readonly BorgEncryption[] = [
  "repokey-blake2",
  "repokey",
  "authenticated-blake2",
  "authenticated",
  "none",
];

/** `[borg]`: scheduled borgbackup archives (modules/borg). */
export interface BorgConfig {
  /** `ssh://user@host:port/path` or a path on the server. */
  readonly repository?: string;
  /** borg's program on the repository's host (`--remote-path`), e.g. "borg-1.2". */
  readonly remote_path?: string;
  /** The repository's passphrase: a secret reference. */
  readonly passphrase?: SecretRef;
  /** The private key ssh uses to reach the repository: a secret reference. */
  readonly ssh_key?: SecretRef;
  /**
   * Used when `configure` creates the repository (repokey modes keep the key in the repository, so
   * any machine with the passphrase can restore).
   */
  readonly encryption: BorgEncryption;
  /** borg's `--compression`, e.g. `"zstd,3"`. */
  readonly compression: string;
  /** When to back up, in cron syntax (`@daily` too), run by a systemd timer. */
  readonly schedule: string;
  /** Keep every archive of this period, e.g. `"2d"` (`borg prune --keep-within`). */
  readonly keep_within?: string;
  /** Hourly archives to keep. */
  readonly keep_hourly: number;
  /** Daily archives to keep. */
  readonly keep_daily: number;
  /** Weekly archives to keep. */
  readonly keep_weekly: number;
  /** Monthly archives to keep. */
  readonly keep_monthly: number;
  /** Seconds a backup waits for the repository's lock before giving up. */
  readonly lock_wait: number;
  /**
   * SQLite files to back up: absolute paths in `/home/<app_user>/` (the job runs as the app user),
   * or paths relative to `/home/<app_user>/data`. Empty: the file `DATABASE_PATH` (or a
   * `sqlite:////...` `DATABASE_URL`) in [env] names, else every SQLite file in
   * `/home/<app_user>/data` at backup time. Required when those are secret references. A listed
   * file that is missing fails the backup.
   */
  readonly databases: readonly string[];
  /** Back up `MEDIA_ROOT` (`shared/media`) and the `shared_resources` folders too. */
  readonly media: boolean;
}

/** Where litestream replicates: S3 (or compatible), SFTP, or a folder. */
export type ReplicaType = "s3" | "sftp" | "file";
export const REPLICA_TYPES: readonly ReplicaType[] = ["s3", "sftp", "file"];

/** One `[[litestream.replicas]]` entry: where every database listed is replicated. */
export interface LitestreamReplica {
  /** The kind of replica. */
  readonly type: ReplicaType;
  /** Folder (file, sftp) or key prefix (s3); each database gets `<path>/<database file name>`. */
  readonly path: string;
  /** s3: the bucket. */
  readonly bucket?: string;
  /** s3: the endpoint of an S3-compatible service; AWS when unset. */
  readonly endpoint?: string;
  /** s3: the region. */
  readonly region?: string;
  /** s3: the access key id (plain or a secret reference). */
  readonly access_key_id?: string | SecretRef;
  /** s3: the secret access key (a secret reference). */
  readonly secret_access_key?: SecretRef;
  /** s3: path-style URLs (`endpoint/bucket`), as MinIO and some services need. */
  readonly force_path_style?: boolean;
  /** sftp: `host:port`. */
  readonly host?: string;
  /** sftp: the user. */
  readonly user?: string;
  /** sftp: the password (a secret reference). */
  readonly password?: SecretRef;
  /** sftp: a private key file on the server. */
  readonly key_path?: string;
  /** e.g. "24h": how long litestream keeps snapshots and WAL (its own default otherwise). */
  readonly retention?: string;
  /** e.g. "1s": how often WAL changes are shipped (litestream's default otherwise). */
  readonly sync_interval?: string;
}

/** `[litestream]`: continuous SQLite replication (modules/litestream). */
export interface LitestreamConfig {
  /** The litestream release. */
  readonly version: string;
  /** The release archive; `{version}` and `{arch}` (amd64, arm64) are filled in. */
  readonly url: string;
  /** SHA-256 of the archive: required, checked before anything is installed. */
  readonly sha256?: string;
  /** SQLite files relative to /home/<app_user>/data. */
  readonly databases: readonly string[];
  /** Where to replicate: `[[litestream.replicas]]` tables. */
  readonly replicas: readonly LitestreamReplica[];
}

/** How tailscale is installed: from its apt repository, or the checked release archive. */
export type TailscaleInstall = "repository" | "binary";
export const TAILSCALE_INSTALLS: readonly TailscaleInstall[] = ["repository", "binary"];

/** `[tailscale]`: joins the host to a tailnet (modules/tailscale). */
export interface TailscaleConfig {
  /**
   * `repository`: Tailscale's apt repository; `binary`: the static release archive (`url` and
   * `sha256`).
   */
  readonly install: TailscaleInstall;
  /** The auth key: a secret reference, passed to tailscale in a 0600 file. */
  readonly auth_key?: SecretRef;
  /** The node's name in the tailnet. */
  readonly hostname?: string;
  /** ACL tags to advertise, e.g. `["tag:web"]`. */
  readonly tags: readonly string[];
  /** More `tailscale up` flags, e.g. `["--ssh"]`. */
  readonly extra_args: readonly string[];
  /** install = "repository": the apt repository and its signing key. */
  readonly repository_url: string;
  /**
   * install = repository: its signing key; `{codename}` is the server's Debian release (bookworm).
   */
  readonly repository_key_url: string;
  /** install = repository: the signing key's SHA-256, checked when set. */
  readonly repository_key_sha256?: string;
  /** install = "binary": the static release archive; `{version}` and `{arch}` are filled in. */
  readonly version: string;
  /** install = binary: the static archive; `{version}` and `{arch}` are filled in. */
  readonly url: string;
  /** install = binary: the archive's SHA-256 (a mismatch is refused). */
  readonly sha256?: string;
  /** Fetch the node's HTTPS certificate with `tailscale cert`. */
  readonly cert: boolean;
}

/**
 * Named points of djaploy's commands where hooks run (docs/hooks.md), in
 * the words Capistrano and Deployer users know: before and after a deploy,
 * its migrations, the switch of traffic to another release, and the
 * activate, rollback, restore and sync-certs commands.
 */
export const HOOK_POINTS = [
  "before_deploy",
  "after_deploy",
  "before_migrate",
  "after_migrate",
  "before_switch",
  "after_switch",
  "before_activate",
  "after_activate",
  "before_rollback",
  "after_rollback",
  "before_restore",
  "after_restore",
  "before_sync_certs",
  "after_sync_certs",
] as const;
/** A hook point's name: `before_deploy`, `after_switch`, ... */
export type HookPoint = typeof HOOK_POINTS[number];

/** One `[[hooks.<point>]]` entry: a shell command line, run here or on each host. */
export interface HookCommand {
  /** The shell command line. */
  readonly run: string;
  /** `local`: on the deploying machine, in the project's folder; `remote`: on each host. */
  readonly on: "local" | "remote";
  /** remote: the app user (with the app's environment) or root (in `/`). */
  readonly user: "app" | "root";
}

/** `[hooks]`: the commands of each hook point, in order. */
export interface HooksConfig {
  /** `[[hooks.before_deploy]]` */
  readonly before_deploy?: readonly HookCommand[];
  /** `[[hooks.after_deploy]]` */
  readonly after_deploy?: readonly HookCommand[];
  /** `[[hooks.before_migrate]]` */
  readonly before_migrate?: readonly HookCommand[];
  /** `[[hooks.after_migrate]]` */
  readonly after_migrate?: readonly HookCommand[];
  /** `[[hooks.before_switch]]` */
  readonly before_switch?: readonly HookCommand[];
  /** `[[hooks.after_switch]]` */
  readonly after_switch?: readonly HookCommand[];
  /** `[[hooks.before_activate]]` */
  readonly before_activate?: readonly HookCommand[];
  /** `[[hooks.after_activate]]` */
  readonly after_activate?: readonly HookCommand[];
  /** `[[hooks.before_rollback]]` */
  readonly before_rollback?: readonly HookCommand[];
  /** `[[hooks.after_rollback]]` */
  readonly after_rollback?: readonly HookCommand[];
  /** `[[hooks.before_restore]]` */
  readonly before_restore?: readonly HookCommand[];
  /** `[[hooks.after_restore]]` */
  readonly after_restore?: readonly HookCommand[];
  /** `[[hooks.before_sync_certs]]` */
  readonly before_sync_certs?: readonly HookCommand[];
  /** `[[hooks.after_sync_certs]]` */
  readonly after_sync_certs?: readonly HookCommand[];
}

/** `[release]`: what runs once per deploy in the new release before traffic moves. */
export interface ReleaseConfig {
  /** A shell command line (Procfile `release:`), run on one host in manage.py's folder. */
  readonly command?: string;
}

/** `[systemd]`: how djaploy's units run. */
export interface SystemdConfig {
  /** The protections turned off (templates/hardening.ts), from `hardening`. */
  readonly hardening: readonly Protection[];
}

/** `[django]`: what djaploy knows of the project's settings. */
export interface DjangoConfig {
  /** Aliases of settings.DATABASES, in the order migrate runs for them. */
  readonly databases: readonly string[];
}

/** Everything that applies to one host after merging host > env defaults > project > built-ins. */
export interface HostConfig {
  /** The host's name, as shown in output and selected with `--hosts`. */
  readonly name: string;
  /** The address ssh connects to: a DNS name or an IP address (IPv6 without brackets). */
  readonly ssh_hostname: string;
  /** The ssh port. */
  readonly ssh_port?: number;
  /** The user ssh logs in as; needs passwordless sudo. */
  readonly ssh_user: string;
  /** Private key file for ssh; `~` is expanded. */
  readonly ssh_key?: string;
  /** true: the host key must already be known; false: a new host's key is accepted and saved. */
  readonly strict_host_key_checking: boolean;
  /** The known_hosts file ssh checks and updates; `~` is expanded. */
  readonly known_hosts_file?: string;
  /** More ssh `-o` options, `Key=Value`. */
  readonly ssh_options: readonly string[];

  /** The Django project's name; the default of app_name and of the WSGI module. */
  readonly project_name: string;
  /** The app's name on the server: its folders, systemd unit and nginx site are named after it. */
  readonly app_name: string;
  /** Path of manage.py, relative to the repository root. */
  readonly manage_py: string;
  /** The Python version of the app's virtualenv. */
  readonly python_version: string;
  /**
   * The unix user the app runs as; created by the core module. Not root: djaploy treats it as
   * untrusted.
   */
  readonly app_user: string;
  /**
   * How a release goes live: restart in place, start the new one before stopping the old, or switch
   * between two slots.
   */
  readonly deployment_strategy: Strategy;
  /** systemd units restarted on deploy (names may contain `@` and `.`). */
  readonly services: readonly string[];
  /** `[processes]`: long-running commands by name (templates/process_units.ts). */
  readonly processes: Readonly<Record<string, string>>;
  /** `[[schedule]]`: jobs run by systemd timers. */
  readonly schedule: readonly ScheduleEntry[];
  /** Modules to run, in order: built-in names, paths, URLs (see Modules above). */
  readonly modules: readonly ModuleRef[];
  /**
   * zero_downtime: how many releases to keep on the server (for rollback); the live and the
   * previous good release are always kept, failed ones do not count.
   */
  readonly keep_releases: number;
  /**
   * Project paths (relative, e.g. `"bostad/public"`) that live in `shared/` and are linked into
   * every release and slot, so that uploads survive deploys.
   */
  readonly shared_resources: readonly string[];
  /**
   * Deploy this many hosts at a time (0: all at once); a failed batch stops the rollout. Read from
   * the environment's first host; `--batch-size` overrides it.
   */
  readonly rolling: number;

  /** How the app's Python dependencies are installed. */
  readonly dependencies: DependenciesConfig;
  /** The app server. */
  readonly gunicorn: GunicornConfig;
  /** The web server in front of gunicorn. */
  readonly nginx: NginxConfig;
  /**
   * The HTTP probe of the new code before it gets traffic (after the restart with in_place); a
   * failed check fails the deploy.
   */
  readonly health_check: HealthCheckConfig;
  /** The server's own software, beyond what djaploy installs for itself. */
  readonly system: SystemConfig;
  /** Environment variables of the app. Tables merge by key across levels. */
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Build python_version from source into /opt (modules/core/python.ts) instead of installing Debian's. */
  readonly python_compile: boolean;
  /** The CPython source archive for python_compile. */
  readonly python_source_url?: string;
  /** The archive's SHA-256: checked on this machine before anything is sent or built. */
  readonly python_source_sha256?: string;
  /**
   * Scheduled backups of the SQLite databases (taken with SQLite's backup API, never a copy of a
   * live file) and media files to an rclone remote, with the `rclone` module and `djaploy restore
   * --backend rclone`. See docs/operations-modules.md.
   */
  readonly rclone: RcloneConfig;
  /**
   * Scheduled borgbackup archives of the SQLite databases and media files, with the `borg` module
   * and `djaploy restore --backend borg`. See docs/operations-modules.md.
   */
  readonly borg: BorgConfig;
  /**
   * Continuous replication of SQLite databases with litestream (the `litestream` module and
   * `djaploy restore --backend litestream`). See docs/operations-modules.md.
   */
  readonly litestream: LitestreamConfig;
  /** Joins the hosts to a tailnet with the `tailscale` module. See docs/operations-modules.md. */
  readonly tailscale: TailscaleConfig;
  /** The systemd units djaploy writes (gunicorn, the boot unit, backups, renewal, litestream). */
  readonly systemd: SystemdConfig;
  /** `[release]`: the release command (docs/hooks.md). */
  readonly release: ReleaseConfig;
  /** `[hooks]`: commands at the hook points (docs/hooks.md). */
  readonly hooks: HooksConfig;
  /** `[django]`: the database aliases migrate runs for (lib/config/django_schema.ts). */
  readonly django: DjangoConfig;
  /** Tables that belong to modules outside the built-in schema, by table name. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** One `[[schedule]]` entry: a manage.py command (split into words) or a shell command line. */
export type ScheduleEntry =
  & { readonly name: string; readonly on_calendar: string }
  & ({ readonly manage: readonly string[] } | { readonly shell: string });

/** One environment: an inventory file and its hosts, with the project's settings applied. */
export interface EnvironmentConfig {
  /** The environment's name: the inventory file's name without `.toml`. */
  readonly name: string;
  /** Absolute path of the inventory file. */
  readonly inventory_path: string;
  /** The inventory's hosts, each with every setting resolved. */
  readonly hosts: readonly HostConfig[];
  /** `[certificates]` of djaploy.toml merged with the inventory's [defaults] (set by the loader). */
  readonly certificates?: CertificatesConfig;
  /** Hosts of a rolling deploy that may fail before it stops (djaploy.toml or [defaults]). */
  readonly max_fail: MaxFail;
  /** Hosts deployed first, on their own, before the rest (djaploy.toml or [defaults]); 0: none. */
  readonly canary: number;
}

/** Which part of the version a release increments. */
export type IncrementType = "major" | "minor" | "patch";
export const INCREMENT_TYPES: readonly IncrementType[] = ["major", "minor", "patch"];

/** [versioning] of djaploy.toml (docs/releases.md). */
export interface VersioningConfig {
  /** Environments whose successful deploys create the version's git tag. */
  readonly tag_environments: readonly string[];
  /**
   * Which part of the highest version tag a new version increments (`--bump-major`, `--bump-minor`,
   * `--bump-patch` override it once).
   */
  readonly increment_type: IncrementType;
  /** Push a new tag to the current branch's upstream remote. */
  readonly push_tags: boolean;
  /** Where the VERSION file goes, relative to the root of the code that runs. */
  readonly version_file_path: string;
}

/** The format of a deploy notice: a Slack message or a plain JSON document. */
export type NotificationKind = "slack" | "webhook";
export const NOTIFICATION_KINDS: readonly NotificationKind[] = ["slack", "webhook"];
/** How a deploy notice's changelog is written. */
export type ChangelogGenerator = "simple" | "llm";
export const CHANGELOG_GENERATORS: readonly ChangelogGenerator[] = ["simple", "llm"];

/** [notifications.changelog_config]: an OpenAI-compatible chat completions endpoint. */
export interface ChangelogConfig {
  /** An OpenAI-compatible chat completions URL. */
  readonly api_url: string;
  /** The model the endpoint is asked to use. */
  readonly model: string;
  /** A plain value or a secret reference; absent for endpoints without a key. */
  readonly api_key?: string | SecretRef;
  /** Seconds to wait for the answer. */
  readonly timeout: number;
}

/** [notifications] of djaploy.toml (docs/releases.md). */
export interface NotificationsConfig {
  /** Announce successful deploys. */
  readonly notify: boolean;
  /** Announce failed deploys: the failed host and step and a short error excerpt. */
  readonly notify_on_failure: boolean;
  /** The app's name in announcements. */
  readonly display_name: string;
  /** A secret: a reference, or a plain URL that is treated as one. */
  readonly webhook_url?: string | SecretRef;
  /** `slack`: a Slack incoming-webhook message; `webhook`: a JSON document. */
  readonly kind: NotificationKind;
  /** Seconds to wait for the webhook, per attempt. */
  readonly timeout: number;
  /**
   * `simple`: commit subjects since the previous version; `llm`: summarised by `changelog_config`'s
   * endpoint (falls back to simple).
   */
  readonly changelog_generator: ChangelogGenerator;
  /** The `llm` changelog's endpoint: `[notifications.changelog_config]`. */
  readonly changelog_config?: ChangelogConfig;
}

/** infra/djaploy.toml, validated: what every environment shares. */
export interface ProjectConfig {
  /** Absolute path of infra/djaploy.toml. */
  readonly config_path: string;
  /** The folder holding djaploy.toml (normally `<repo>/infra`). */
  readonly infra_dir: string;
  /** The git repository's root: the parent of infra_dir. */
  readonly repo_dir: string;
  /** The Django project's name; the default of app_name and of the WSGI module. */
  readonly project_name: string;
  /** Commands run on the deploying machine before the release is built. */
  readonly prepare: PrepareConfig;
  /** [artifact]; absent in a ProjectConfig made by hand (no build outputs). */
  readonly artifact?: ArtifactConfig;
  /** [versioning]; absent when djaploy.toml has no such table (no versions, tags or VERSION file). */
  readonly versioning?: VersioningConfig;
  /** [notifications]; absent when djaploy.toml has no such table. */
  readonly notifications?: NotificationsConfig;
  /** Environment names found in infra/inventory/, sorted. */
  readonly environments: readonly string[];
  /** The folder error messages show paths relative to (the cwd given to loadProject). */
  readonly cwd?: string;
  /**
   * The validated settings of djaploy.toml (keys as in the file, values
   * normalized), which loadEnvironment merges under each host. When absent,
   * loadEnvironment reads config_path again.
   */
  readonly settings?: Readonly<Record<string, unknown>>;
}
