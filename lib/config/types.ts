/**
 * The validated, immutable configuration that everything downstream reads.
 * Field names follow the TOML keys (and the Python djaploy's HostConfig) so
 * that a key in a config file and a property in code have the same name.
 */
import type { SecretRef } from "../secret.ts";
import type { Protection } from "../../templates/hardening.ts";
import type { MaxFail } from "./max_fail.ts";

export type Strategy = "in_place" | "zero_downtime" | "bluegreen";
export const STRATEGIES: readonly Strategy[] = ["in_place", "zero_downtime", "bluegreen"];

export type DependencyManager = "poetry" | "uv" | "pip";
export const DEPENDENCY_MANAGERS: readonly DependencyManager[] = ["poetry", "uv", "pip"];

/** A value of `[env]`: a plain string or a reference resolved on the deploying machine. */
export type EnvValue = string | SecretRef;

export type ChallengeType = "http" | "dns";
export const CHALLENGES: readonly ChallengeType[] = ["http", "dns"];
export type IssueOn = "controller" | "server";
export const ISSUE_ON: readonly IssueOn[] = ["controller", "server"];
/** DNS providers for DNS-01 (lib/certs/dns/ has one file per provider). */
export const DNS_PROVIDERS: readonly string[] = ["bunny"];

/** One `[[certificates.domains]]` entry: a certificate and the names it covers. */
export interface CertDomainConfig {
  /** The certificate's first name; also its folder name locally and on the servers. */
  readonly name: string;
  readonly alt_names: readonly string[];
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
  readonly email?: string;
  readonly acme_directory: string;
  /** A local PEM file of extra CAs to trust for the ACME server (private or test CAs). */
  readonly acme_ca_bundle?: string;
  readonly renew_before_days: number;
  /** The local certificate store; default ~/.local/share/djaploy/certs/<project_name>. */
  readonly store?: string;
  readonly pregenerate_certificates: boolean;
  readonly issue_on: IssueOn;
  /** A shell command run on this machine when renew-certs fails (the message on stdin). */
  readonly notify_command?: string;
  readonly domains: readonly CertDomainConfig[];
}

export interface DependenciesConfig {
  /** Detected from the lock file in the repository when not set. */
  readonly manager?: DependencyManager;
  readonly install_args: readonly string[];
  readonly system_site_packages: boolean;
  /** The package index pip and uv use (and tools are installed from); PyPI when unset. */
  readonly index_url?: string | SecretRef;
  readonly extra_index_urls: readonly (string | SecretRef)[];
  /** Poetry from the index at this version; Debian's python3-poetry when unset. */
  readonly poetry_version?: string;
  readonly uv_version: string;
}

export interface GunicornConfig {
  readonly wsgi_module: string;
  readonly workers: number;
  readonly timeout: number;
  readonly preload_app: boolean;
  readonly extra_args: readonly string[];
}

export interface NginxConfig {
  readonly server_name: string;
  readonly listen: number;
  readonly client_max_body_size: string;
}

export interface HealthCheckConfig {
  /** false: no HTTP check before traffic moves. */
  readonly enabled: boolean;
  /** Empty: `/`. */
  readonly path: string;
  /** Unset: 200 with a path, any 2xx or 3xx for the default `/`. */
  readonly expected_status?: number;
  readonly retries: number;
  /** Seconds between tries. */
  readonly interval: number;
  /** Host header of the probe; default: the first concrete nginx server_name, else ssh_hostname, else "localhost". */
  readonly host: string;
}

export interface SystemConfig {
  /** Debian packages configure installs. */
  readonly packages: readonly string[];
}

export interface PrepareConfig {
  readonly commands: readonly string[];
}

/** A module as listed in `modules`: a built-in name, a path, or a URL with an optional pin. */
export interface ModuleRef {
  /** As written: a built-in name, a path or a URL. */
  readonly spec: string;
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
  readonly retention_days: number;
  /** SQLite files relative to /home/<app_user>/data; empty: every SQLite file there. */
  readonly databases: readonly string[];
  /** Back up MEDIA_ROOT and shared_resources too. */
  readonly media: boolean;
}

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
  readonly encryption: BorgEncryption;
  readonly compression: string;
  readonly schedule: string;
  readonly keep_within?: string;
  readonly keep_hourly: number;
  readonly keep_daily: number;
  readonly keep_weekly: number;
  readonly keep_monthly: number;
  /** Seconds a backup waits for the repository's lock before giving up. */
  readonly lock_wait: number;
  readonly databases: readonly string[];
  readonly media: boolean;
}

export type ReplicaType = "s3" | "sftp" | "file";
export const REPLICA_TYPES: readonly ReplicaType[] = ["s3", "sftp", "file"];

/** One `[[litestream.replicas]]` entry: where every database listed is replicated. */
export interface LitestreamReplica {
  readonly type: ReplicaType;
  /** Folder (file, sftp) or key prefix (s3); each database gets `<path>/<database file name>`. */
  readonly path: string;
  readonly bucket?: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly access_key_id?: string | SecretRef;
  readonly secret_access_key?: SecretRef;
  readonly force_path_style?: boolean;
  /** sftp: `host:port`. */
  readonly host?: string;
  readonly user?: string;
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
  readonly version: string;
  /** The release archive; `{version}` and `{arch}` (amd64, arm64) are filled in. */
  readonly url: string;
  /** SHA-256 of the archive: required, checked before anything is installed. */
  readonly sha256?: string;
  /** SQLite files relative to /home/<app_user>/data. */
  readonly databases: readonly string[];
  readonly replicas: readonly LitestreamReplica[];
}

export type TailscaleInstall = "repository" | "binary";
export const TAILSCALE_INSTALLS: readonly TailscaleInstall[] = ["repository", "binary"];

/** `[tailscale]`: joins the host to a tailnet (modules/tailscale). */
export interface TailscaleConfig {
  readonly install: TailscaleInstall;
  /** The auth key: a secret reference, passed to tailscale in a 0600 file. */
  readonly auth_key?: SecretRef;
  readonly hostname?: string;
  readonly tags: readonly string[];
  readonly extra_args: readonly string[];
  /** install = "repository": the apt repository and its signing key. */
  readonly repository_url: string;
  readonly repository_key_url: string;
  readonly repository_key_sha256?: string;
  /** install = "binary": the static release archive; `{version}` and `{arch}` are filled in. */
  readonly version: string;
  readonly url: string;
  readonly sha256?: string;
  /** Fetch the node's HTTPS certificate with `tailscale cert`. */
  readonly cert: boolean;
}

/** `[systemd]`: how djaploy's units run. */
export interface SystemdConfig {
  /** The protections turned off (templates/hardening.ts), from `hardening`. */
  readonly hardening: readonly Protection[];
}

/** Everything that applies to one host after merging host > env defaults > project > built-ins. */
export interface HostConfig {
  readonly name: string;
  readonly ssh_hostname: string;
  readonly ssh_port?: number;
  readonly ssh_user: string;
  readonly ssh_key?: string;
  readonly strict_host_key_checking: boolean;
  readonly known_hosts_file?: string;
  /** More ssh `-o` options, `Key=Value`. */
  readonly ssh_options: readonly string[];

  readonly project_name: string;
  readonly app_name: string;
  readonly manage_py: string;
  readonly python_version: string;
  readonly app_user: string;
  readonly deployment_strategy: Strategy;
  readonly services: readonly string[];
  /** `[processes]`: long-running commands by name (templates/process_units.ts). */
  readonly processes: Readonly<Record<string, string>>;
  /** `[[schedule]]`: jobs run by systemd timers. */
  readonly schedule: readonly ScheduleEntry[];
  readonly modules: readonly ModuleRef[];
  readonly keep_releases: number;
  readonly shared_resources: readonly string[];
  readonly rolling: number;

  readonly dependencies: DependenciesConfig;
  readonly gunicorn: GunicornConfig;
  readonly nginx: NginxConfig;
  readonly health_check: HealthCheckConfig;
  readonly system: SystemConfig;
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Build python_version from source into /opt (modules/python) instead of installing Debian's. */
  readonly python_compile: boolean;
  /** The CPython source archive for python_compile. */
  readonly python_source_url?: string;
  readonly python_source_sha256?: string;
  readonly rclone: RcloneConfig;
  readonly borg: BorgConfig;
  readonly litestream: LitestreamConfig;
  readonly tailscale: TailscaleConfig;
  readonly systemd: SystemdConfig;
  /** Tables that belong to modules outside the built-in schema, by table name. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** One `[[schedule]]` entry: a manage.py command (split into words) or a shell command line. */
export type ScheduleEntry =
  & { readonly name: string; readonly on_calendar: string }
  & ({ readonly manage: readonly string[] } | { readonly shell: string });

export interface EnvironmentConfig {
  /** The environment's name: the inventory file's name without `.toml`. */
  readonly name: string;
  readonly inventory_path: string;
  readonly hosts: readonly HostConfig[];
  /** `[certificates]` of djaploy.toml merged with the inventory's [defaults] (set by the loader). */
  readonly certificates?: CertificatesConfig;
  /** Hosts of a rolling deploy that may fail before it stops (djaploy.toml or [defaults]). */
  readonly max_fail: MaxFail;
  /** Hosts deployed first, on their own, before the rest (djaploy.toml or [defaults]); 0: none. */
  readonly canary: number;
}

export type IncrementType = "major" | "minor" | "patch";
export const INCREMENT_TYPES: readonly IncrementType[] = ["major", "minor", "patch"];

/** [versioning] of djaploy.toml (docs/releases.md). */
export interface VersioningConfig {
  /** Environments whose successful deploys create the version's git tag. */
  readonly tag_environments: readonly string[];
  readonly increment_type: IncrementType;
  readonly push_tags: boolean;
  /** Where the VERSION file goes, relative to the root of the code that runs. */
  readonly version_file_path: string;
}

export type NotificationKind = "slack" | "webhook";
export const NOTIFICATION_KINDS: readonly NotificationKind[] = ["slack", "webhook"];
export type ChangelogGenerator = "simple" | "llm";
export const CHANGELOG_GENERATORS: readonly ChangelogGenerator[] = ["simple", "llm"];

/** [notifications.changelog_config]: an OpenAI-compatible chat completions endpoint. */
export interface ChangelogConfig {
  readonly api_url: string;
  readonly model: string;
  /** A plain value or a secret reference; absent for endpoints without a key. */
  readonly api_key?: string | SecretRef;
  /** Seconds to wait for the answer. */
  readonly timeout: number;
}

/** [notifications] of djaploy.toml (docs/releases.md). */
export interface NotificationsConfig {
  readonly notify: boolean;
  readonly notify_on_failure: boolean;
  readonly display_name: string;
  /** A secret: a reference, or a plain URL that is treated as one. */
  readonly webhook_url?: string | SecretRef;
  readonly kind: NotificationKind;
  /** Seconds to wait for the webhook, per attempt. */
  readonly timeout: number;
  readonly changelog_generator: ChangelogGenerator;
  readonly changelog_config?: ChangelogConfig;
}

export interface ProjectConfig {
  /** Absolute path of infra/djaploy.toml. */
  readonly config_path: string;
  /** The folder holding djaploy.toml (normally `<repo>/infra`). */
  readonly infra_dir: string;
  /** The git repository's root: the parent of infra_dir. */
  readonly repo_dir: string;
  readonly project_name: string;
  readonly prepare: PrepareConfig;
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
