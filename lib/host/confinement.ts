/**
 * What each unit djaploy writes may touch, from the host's layout: the input
 * of templates/hardening.ts. Paths come from lib/host/layout.ts, relaxations from
 * `[systemd] hardening`.
 */
import * as remotePath from "../remote_path.ts";
import { appDatabaseDir, backupDatabases } from "../backup/databases.ts";
import type { HostConfig } from "../config/types.ts";
import { type Layout, slotLayout, SLOTS } from "./layout.ts";
import type { Confinement } from "../../templates/hardening.ts";
import { strategyTraits } from "../strategies/traits.ts";
import { EXPOSURE_SH } from "./programs.gen.ts";

/** Folders that may not exist when the unit starts are marked optional ("-"). */
const optional = (path: string) => `-${path}`;

/**
 * gunicorn: reads its code and virtualenv (all below the app's folder),
 * writes the app's data and media and the shared_resources folders (in
 * shared/ for the slot strategies, inside the code for in_place).
 */
export function webConfinement(host: HostConfig, layout: Layout): Confinement {
  const resources = host.shared_resources.map((p) =>
    optional(
      remotePath.join(strategyTraits(host).hasSlots ? layout.sharedDir : layout.codeDir, p),
    )
  );
  return {
    readable: [layout.appDir],
    writable: [layout.dataDir, layout.mediaRoot, ...databaseDir(host, layout), ...resources],
    relaxed: host.systemd.hardening,
  };
}

/** The folder of a database [env] names outside the data folder (the app writes it). */
function databaseDir(host: HostConfig, layout: Layout): string[] {
  const dir = appDatabaseDir(host, layout);
  return dir === undefined ? [] : [optional(dir)];
}

/** The boot unit: reads the active-slot record, asks systemd to start that slot. */
export function bootConfinement(host: HostConfig, layout: Layout): Confinement {
  return {
    readable: [remotePath.dirname(layout.activeSlotFile)],
    writable: [],
    relaxed: host.systemd.hardening,
  };
}

/**
 * A scheduled backup: reads the app's data and media (SQLite needs write
 * access to the database folder for its locks), writes its staging folder and
 * lock beside it, the caches borg and rclone keep in the home of the user
 * it runs as, and the backups' folder when it is on this server (a borg
 * repository path, an rclone remote of type "local").
 */
export function backupConfinement(
  host: HostConfig,
  layout: Layout,
  o: { backend: "rclone" | "borg"; stagingDir: string; userHome: string },
): Confinement {
  return {
    writable: [
      layout.dataDir,
      // SQLite's readers take their locks (and in WAL mode write -shm) beside the database.
      ...backupDatabases(host, layout, o.backend).databases
        .map((d) => remotePath.dirname(d.path))
        .filter((dir, i, all) =>
          all.indexOf(dir) === i && !dir.startsWith(`${layout.dataDir}/`) &&
          dir !== layout.dataDir
        )
        .map(optional),
      remotePath.dirname(o.stagingDir),
      optional(remotePath.join(o.userHome, ".cache")),
      optional(remotePath.join(o.userHome, ".config")),
      ...localTarget(host, o.backend).map(optional),
    ],
    usesHome: true,
    relaxed: host.systemd.hardening,
  };
}

/**
 * The transient unit that stops an old slot: watches its socket (ss) and asks
 * systemd to stop it; writes nothing.
 */
export function drainConfinement(host: HostConfig): Confinement {
  return { writable: [], relaxed: host.systemd.hardening };
}

function localTarget(host: HostConfig, backend: "rclone" | "borg"): string[] {
  if (backend === "borg") {
    const repo = host.borg.repository;
    return repo?.startsWith("/") ? [repo] : [];
  }
  return host.rclone.remote?.type === "local" ? [host.rclone.path] : [];
}

/**
 * litestream: the databases and its own files beside them, in the data
 * folder; the folders of `file` replicas (when they exist: litestream writes
 * below them); the key files of `sftp` replicas.
 */
export function litestreamConfinement(host: HostConfig, layout: Layout): Confinement {
  const replicas = host.litestream.replicas;
  return {
    writable: [
      layout.dataDir,
      ...replicas.filter((r) => r.type === "file").map((r) => optional(r.path)),
    ],
    readable: replicas.flatMap((r) => (r.key_path ? [optional(r.key_path)] : [])),
    relaxed: host.systemd.hardening,
  };
}

/**
 * certbot renew: its own folders, the ACME webroot, the certificates nginx
 * reads, and what `nginx -t` opens before the reload.
 */
export function certbotConfinement(
  host: HostConfig,
  o: { acmeRoot: string; certsDir: string },
): Confinement {
  return {
    writable: [
      optional("/etc/letsencrypt"),
      optional("/var/lib/letsencrypt"),
      optional("/var/log/letsencrypt"),
      optional(o.acmeRoot),
      optional(o.certsDir),
      optional("/var/log/nginx"),
      optional("/var/lib/nginx"),
    ],
    relaxed: host.systemd.hardening,
  };
}

/** A unit djaploy writes on a host, with the exposure `systemd-analyze security` may rate it at most. */
export interface ConfinedUnit {
  readonly unit: string;
  readonly target: number;
}

/** The gunicorn units: at most 3.0; every other unit djaploy writes: at most 4.0. */
export const WEB_TARGET = 3.0;
export const OTHER_TARGET = 4.0;

/** The units djaploy writes for `host` (those its strategy and modules use), for `verify`. */
export function confinedUnits(
  host: HostConfig,
  layout: Layout,
  o: { backupServices: readonly string[]; litestream?: string; certRenewal?: string },
): ConfinedUnit[] {
  const slots = strategyTraits(host).hasSlots;
  const web = slots ? SLOTS.map((s) => slotLayout(host, layout, s).unitName) : [layout.unitName];
  const others = [
    ...(slots ? [layout.slotsBootUnit] : []),
    ...o.backupServices,
    ...(o.litestream ? [o.litestream] : []),
    ...(o.certRenewal ? [o.certRenewal] : []),
  ];
  return [
    ...web.map((unit) => ({ unit, target: WEB_TARGET })),
    ...others.map((unit) => ({ unit, target: OTHER_TARGET })),
  ];
}

/**
 * `systemd-analyze security`'s verdict line for each unit whose file exists:
 * `<unit> <exposure> <predicate>`.
 */
export { EXPOSURE_SH };

/** The lines EXPOSURE_SH printed, by unit. */
export function parseExposure(out: string): Map<string, { exposure: number; predicate: string }> {
  const scores = new Map<string, { exposure: number; predicate: string }>();
  for (const m of out.matchAll(/^exposure (\S+) ([0-9.]+) ([A-Z]+)$/gm)) {
    scores.set(m[1], { exposure: Number(m[2]), predicate: m[3] });
  }
  return scores;
}
