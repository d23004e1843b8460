/**
 * Where backups live on a server and what the backup program is told: every
 * path of the rclone and borg modules (and of `restore`) comes from here,
 * derived from the host's config and the app's layout.
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig } from "../config/types.ts";
import type { Layout } from "../host/layout.ts";
import { REMOTE_NAME } from "./rclone_conf.ts";
import { backupDatabases } from "./databases.ts";

export type { BackupBackend } from "./databases.ts";
import type { BackupBackend } from "./databases.ts";
export type RestoreBackend = BackupBackend | "litestream";
export const RESTORE_BACKENDS: readonly RestoreBackend[] = ["rclone", "borg", "litestream"];

/** The backup program (templates/backup_py.ts), shared by every app on the server. */
export const BACKUP_PY_PATH = "/usr/local/lib/djaploy/backup.py";
/** The Python that runs the backup program: Debian's. */
export const PYTHON = "/usr/bin/python3";

/** Where a backup module keeps its settings, credentials and units on the server. */
export interface BackupLayout {
  /**
   * /etc/djaploy/backups/{app}: root's, 0700: settings, credentials and the
   * pinned known_hosts. The job, which runs as the app's user, gets them
   * through systemd's LoadCredential= (read-only copies), never the folder.
   */
  readonly configDir: string;
  /** The backup program's settings for the timer's runs (JSON, no secrets). */
  readonly settingsFile: string;
  /** rclone: rclone.conf, root's, 0600 (secrets inside). */
  readonly rcloneConf: string;
  /** borg: the passphrase, root's, 0600. */
  readonly borgPassphrase: string;
  /** borg: the ssh key for the repository, root's, 0600. */
  readonly borgSshKey: string;
  /** The repository host's ssh key, pinned by root the first time (`backup.py known-hosts`). */
  readonly borgKnownHosts: string;
  /** BORG_BASE_DIR of the app user's borg: its cache and the repositories it trusts. */
  readonly borgBaseDir: string;
  /** Holds the repository URL once `borg init` (or a check) succeeded for it. */
  readonly borgInitMarker: string;
  /** `{app}-backup-{backend}.service` and `.timer`. */
  readonly serviceName: string;
  /** The timer's name. */
  readonly timerName: string;
  /** The service's unit file. */
  readonly servicePath: string;
  /** The timer's unit file. */
  readonly timerPath: string;
  /**
   * Snapshots are assembled here before upload (same file system as media:
   * hard links); its lock is `<stagingDir>.lock`. In the app's own state
   * folder: only the job, as the app's user, touches them.
   */
  readonly stagingDir: string;
}

/** The backup paths of `backend` for the host. */
export function backupLayout(
  host: HostConfig,
  layout: Layout,
  backend: BackupBackend,
): BackupLayout {
  const configDir = `/etc/djaploy/backups/${host.app_name}`;
  const unit = `${host.app_name}-backup-${backend}`;
  return {
    configDir,
    settingsFile: remotePath.join(configDir, `backup-${backend}.json`),
    rcloneConf: remotePath.join(configDir, "rclone.conf"),
    borgPassphrase: remotePath.join(configDir, "borg-passphrase"),
    borgSshKey: remotePath.join(configDir, "borg-ssh-key"),
    borgKnownHosts: remotePath.join(configDir, "borg-known_hosts"),
    borgInitMarker: remotePath.join(configDir, "borg-repository"),
    borgBaseDir: borgBaseDir(layout),
    serviceName: `${unit}.service`,
    timerName: `${unit}.timer`,
    servicePath: `/etc/systemd/system/${unit}.service`,
    timerPath: `/etc/systemd/system/${unit}.timer`,
    stagingDir: remotePath.join(layout.stateDir, `backup-${backend}`),
  };
}

/** BORG_BASE_DIR of the app user's borg (backups, listing, restore). */
export function borgBaseDir(layout: Layout): string {
  return remotePath.join(layout.stateDir, "borg");
}

/** `restore` fetches a backup here (same file system as the app's data) before putting it in place. */
export function restoreDir(layout: Layout): string {
  return remotePath.join(layout.stateDir, "restore");
}

/** Where an rclone backup of `host` in environment `env` goes: `djaploy:<path>/<env>/<host>`. */
export function rcloneTarget(host: HostConfig, env: string): string {
  return `${REMOTE_NAME}:${remotePath.join(host.rclone.path, env, host.name)}`;
}

/** The prefix of a host's borg archives: `<env>-<host>-`, then the time. */
export function borgPrefix(host: HostConfig, env: string): string {
  return `${env}-${host.name}-`;
}

/** What backup.py needs to read a source's backups (list and restore). */
export function sourceSettings(
  host: HostConfig,
  env: string,
  backend: RestoreBackend,
  layout: Layout,
): Record<string, unknown> {
  if (backend === "rclone") return { backend, target: rcloneTarget(host, env) };
  if (backend === "borg") {
    return {
      backend,
      repository: host.borg.repository,
      remote_path: host.borg.remote_path,
      archive_prefix: borgPrefix(host, env),
    };
  }
  return {
    backend,
    databases: host.litestream.databases.map((d) => ({
      name: d,
      path: remotePath.join(layout.dataDir, d),
    })),
  };
}

/** The settings file of the timer's runs. */
export function serverSettings(
  host: HostConfig,
  env: string,
  backend: BackupBackend,
  layout: Layout,
): Record<string, unknown> {
  const b = backupLayout(host, layout, backend);
  const dbs = backupDatabases(host, layout, backend);
  const common = {
    backend,
    app: host.app_name,
    env,
    host: host.name,
    app_user: host.app_user,
    data_dir: layout.dataDir,
    staging_dir: b.stagingDir,
    // Each one must exist at backup time (a missing one fails the run); `scan`: none is
    // known, so every SQLite file found in data_dir.
    databases: dbs.databases.map((d) => ({ name: d.name, path: d.path })),
    scan_data_dir: dbs.scan,
  };
  if (backend === "rclone") {
    const r = host.rclone;
    return {
      ...common,
      media_dir: r.media ? layout.mediaRoot : null,
      shared_dir: layout.sharedDir,
      shared_resources: r.media ? host.shared_resources : [],
      rclone_config: b.rcloneConf,
      target: rcloneTarget(host, env),
      retention_days: r.retention_days,
    };
  }
  const g = host.borg;
  return {
    ...common,
    media_dir: g.media ? layout.mediaRoot : null,
    shared_dir: layout.sharedDir,
    shared_resources: g.media ? host.shared_resources : [],
    repository: g.repository,
    remote_path: g.remote_path,
    encryption: g.encryption,
    compression: g.compression,
    archive_prefix: borgPrefix(host, env),
    passphrase_file: b.borgPassphrase,
    ssh_key_file: g.ssh_key ? b.borgSshKey : null,
    known_hosts: b.borgKnownHosts,
    borg_base_dir: b.borgBaseDir,
    keep_within: g.keep_within ?? null,
    keep_hourly: g.keep_hourly,
    keep_daily: g.keep_daily,
    keep_weekly: g.keep_weekly,
    keep_monthly: g.keep_monthly,
    lock_wait: g.lock_wait,
  };
}
