/**
 * The validated, immutable configuration that everything downstream reads.
 * Field names follow the TOML keys (and the Python djaploy's HostConfig) so
 * that a key in a config file and a property in code have the same name.
 */
import type { SecretRef } from "../secret.ts";

export type Strategy = "in_place" | "zero_downtime" | "bluegreen";
export const STRATEGIES: readonly Strategy[] = ["in_place", "zero_downtime", "bluegreen"];

export type DependencyManager = "poetry" | "uv" | "pip";
export const DEPENDENCY_MANAGERS: readonly DependencyManager[] = ["poetry", "uv", "pip"];

/** A value of `[env]`: a plain string or a reference resolved on the deploying machine. */
export type EnvValue = string | SecretRef;

export interface DependenciesConfig {
  /** Detected from the lock file in the repository when not set. */
  readonly manager?: DependencyManager;
  readonly install_args: readonly string[];
  readonly system_site_packages: boolean;
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
  /** Empty: no health check. */
  readonly path: string;
  readonly expected_status: number;
  readonly retries: number;
  /** Seconds between tries. */
  readonly interval: number;
  /** Host header of the probe; default: the first nginx server_name that is not "_", else "localhost". */
  readonly host: string;
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

/** Everything that applies to one host after merging host > env defaults > project > built-ins. */
export interface HostConfig {
  readonly name: string;
  readonly ssh_hostname: string;
  readonly ssh_port?: number;
  readonly ssh_user: string;
  readonly ssh_key?: string;
  readonly strict_host_key_checking: boolean;
  readonly known_hosts_file?: string;

  readonly project_name: string;
  readonly app_name: string;
  readonly manage_py: string;
  readonly python_version: string;
  readonly app_user: string;
  readonly deployment_strategy: Strategy;
  readonly services: readonly string[];
  readonly modules: readonly ModuleRef[];
  readonly keep_releases: number;
  readonly shared_resources: readonly string[];
  readonly rolling: number;

  readonly dependencies: DependenciesConfig;
  readonly gunicorn: GunicornConfig;
  readonly nginx: NginxConfig;
  readonly health_check: HealthCheckConfig;
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Tables that belong to modules outside the built-in schema, by table name. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface EnvironmentConfig {
  /** The environment's name: the inventory file's name without `.toml`. */
  readonly name: string;
  readonly inventory_path: string;
  readonly hosts: readonly HostConfig[];
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
