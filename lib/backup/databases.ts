/**
 * Which SQLite files the rclone and borg modules back up: the module's
 * `databases` setting, else the file the app itself uses (`DATABASE_PATH`,
 * or a `sqlite:` `DATABASE_URL` in [env]; with several `[django] databases`
 * the setting is required, since [env] names one file), else every SQLite
 * file found in the data folder at backup time. The job runs as the app's user, so every
 * file must be in a folder that user owns: its home.
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig } from "../config/types.ts";
import type { Layout } from "../host/layout.ts";
import { isSecretRef } from "../secrets/secret.ts";

/** A backup module that runs the backup program (litestream replicates on its own). */
export type BackupBackend = "rclone" | "borg";

/** One database of a backup: `name` is its file under db/ in the backup. */
export interface BackupDatabase {
  /**
   * Relative to the data folder when it is there (the names backups always
   * had); else `~/` and the path relative to the app user's home, which
   * restore puts back under the target's home.
   */
  readonly name: string;
  readonly path: string;
}

export interface DatabasePlan {
  /** Empty with `scan`: every SQLite file in the data folder, found at backup time. */
  readonly databases: readonly BackupDatabase[];
  /** No database is known: the job looks in the data folder. */
  readonly scan: boolean;
  /** Where the list came from, for people: `rclone.databases`, `env.DATABASE_PATH`. */
  readonly from: string;
}

/** A problem with the key that caused it, as a path (`["env", "DATABASE_PATH"]`). */
export interface DatabaseProblem {
  readonly key: readonly (string | number)[];
  readonly message: string;
}

export class DatabaseSettingError extends Error {
  constructor(readonly problem: DatabaseProblem) {
    super(problem.message);
  }
}

/** `sqlite:////abs/path` (four slashes: an absolute path); undefined for other databases. */
export function sqliteUrlPath(url: string): string | undefined {
  // dj-database-url: sqlite:////abs/path is "/abs/path", sqlite:///rel a path relative to the app.
  const m = /^sqlite:\/\/\/(\/[^?#]*)/.exec(url.trim());
  if (!m || m[1] === "/") return undefined;
  return decodeURIComponent(m[1]);
}

function nameOf(path: string, layout: Layout): string {
  const inData = remotePath.relative(layout.dataDir, path);
  if (!inData.startsWith("..") && !remotePath.isAbsolute(inData)) return inData;
  return `~/${remotePath.relative(layout.homeDir, path)}`;
}

/** Checks that `path` is an absolute file path in the app user's home. */
function checked(path: string, layout: Layout, key: readonly (string | number)[]): string {
  const home = `${layout.homeDir}/`;
  const ok = remotePath.isAbsolute(path) && remotePath.normalize(path) === path &&
    path.startsWith(home) &&
    !path.endsWith("/") && !/[\0\n]/.test(path);
  if (!ok) {
    throw new DatabaseSettingError({
      key,
      message: `must be an absolute path of a file in ${home} (the app user's home: the backup ` +
        `job runs as that user and reads only its folders): got ${JSON.stringify(path)}`,
    });
  }
  return path;
}

const SECRET_HINT = (backend: string) =>
  `a secret reference, which djaploy cannot read before the app runs: set ${backend}.databases ` +
  `to the database's absolute path (e.g. ["/home/<app_user>/data/db.sqlite3"])`;

/** The databases a backend's job backs up on `host`; throws DatabaseSettingError. */
export function backupDatabases(
  host: HostConfig,
  layout: Layout,
  backend: BackupBackend,
): DatabasePlan {
  const set = host[backend].databases;
  if (set.length > 0) {
    const databases = set.map((d, i) => {
      const key = [backend, "databases", i];
      const path = d.startsWith("/") ? checked(d, layout, key) : remotePath.join(layout.dataDir, d);
      return { name: nameOf(path, layout), path };
    });
    return { databases, scan: false, from: `${backend}.databases` };
  }
  const envPath = host.env.DATABASE_PATH;
  const envUrl = host.env.DATABASE_URL;
  const aliases = host.django.databases;
  if (aliases.length > 1 && (envPath !== undefined || envUrl !== undefined)) {
    // [env] names one file; the other databases' files are in settings djaploy does not run.
    throw new DatabaseSettingError({
      key: [backend, "databases"],
      message:
        `is required with ${aliases.length} databases in [django] databases (${
          aliases.join(", ")
        }): ${envPath !== undefined ? "DATABASE_PATH" : "DATABASE_URL"} in [env] names one ` +
        `file; list each SQLite database's file (a database server's data is not backed up ` +
        `by ${backend})`,
    });
  }
  if (typeof envPath === "string" && typeof envUrl === "string") {
    const fromUrl = sqliteUrlPath(envUrl);
    if (fromUrl !== undefined && fromUrl !== envPath) {
      // Which one the app reads is in its settings, which djaploy does not run here.
      throw new DatabaseSettingError({
        key: [backend, "databases"],
        message: `is required: DATABASE_PATH (${JSON.stringify(envPath)}) and DATABASE_URL ` +
          `(${JSON.stringify(fromUrl)}) in [env] name different files; list the database the ` +
          `app uses (or both)`,
      });
    }
  }
  if (envPath !== undefined) {
    const key = ["env", "DATABASE_PATH"];
    if (isSecretRef(envPath)) {
      throw new DatabaseSettingError({ key, message: `is ${SECRET_HINT(backend)}` });
    }
    const path = checked(envPath, layout, key);
    return { databases: [{ name: nameOf(path, layout), path }], scan: false, from: key.join(".") };
  }
  const url = envUrl;
  if (url !== undefined) {
    const key = ["env", "DATABASE_URL"];
    if (isSecretRef(url)) {
      throw new DatabaseSettingError({ key, message: `is ${SECRET_HINT(backend)}` });
    }
    const file = sqliteUrlPath(url);
    if (file !== undefined) {
      const path = checked(file, layout, key);
      return {
        databases: [{ name: nameOf(path, layout), path }],
        scan: false,
        from: key.join("."),
      };
    }
    if (/^sqlite:/.test(url.trim())) {
      throw new DatabaseSettingError({
        key,
        message: `must name an absolute SQLite file (sqlite:////home/<app_user>/data/db.sqlite3) ` +
          `for ${backend} backups: got ${JSON.stringify(url)}`,
      });
    }
    // Another database server: nothing of SQLite's to back up here.
    return { databases: [], scan: false, from: "env.DATABASE_URL (not SQLite)" };
  }
  return { databases: [], scan: true, from: "no database setting" };
}

/** One line for people: what a host's backups hold. */
export function describeBackup(
  host: HostConfig,
  layout: Layout,
  backend: BackupBackend,
): string {
  const plan = backupDatabases(host, layout, backend);
  const dbs = plan.scan
    ? `every SQLite file in ${layout.dataDir} (${plan.from}: set ${backend}.databases or ` +
      `DATABASE_PATH in [env])`
    : plan.databases.length === 0
    ? `no SQLite database (${plan.from})`
    : `${plan.databases.map((d) => d.path).join(", ")} (${plan.from})`;
  const media = host[backend].media
    ? [layout.mediaRoot, ...host.shared_resources.map((r) => remotePath.join(layout.sharedDir, r))]
    : [];
  return `${backend} backs up ${dbs}${media.length ? `; files: ${media.join(", ")}` : ""}`;
}

/**
 * The folder of the SQLite file the app's [env] names (DATABASE_PATH, a
 * sqlite DATABASE_URL), when it is in the app user's home outside the data
 * folder: the app's units must be able to write there (SQLite's journal and
 * locks live beside the file). Undefined for anything else.
 */
export function appDatabaseDir(host: HostConfig, layout: Layout): string | undefined {
  const p = host.env.DATABASE_PATH;
  const u = host.env.DATABASE_URL;
  const path = typeof p === "string" ? p : typeof u === "string" ? sqliteUrlPath(u) : undefined;
  if (path === undefined || !path.startsWith(`${layout.homeDir}/`)) return undefined;
  if (remotePath.normalize(path) !== path) return undefined;
  const dir = remotePath.dirname(path);
  return dir === layout.dataDir || dir.startsWith(`${layout.dataDir}/`) ? undefined : dir;
}
