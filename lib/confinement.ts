/**
 * What each unit djaploy writes may touch, from the host's layout: the input
 * of templates/hardening.ts. Paths come from lib/layout.ts, relaxations from
 * `[systemd] hardening`.
 */
import { posix } from "node:path";
import type { HostConfig } from "./config/types.ts";
import type { Layout } from "./layout.ts";
import type { Confinement } from "../templates/hardening.ts";

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
      posix.join(host.deployment_strategy === "in_place" ? layout.codeDir : layout.sharedDir, p),
    )
  );
  return {
    readable: [layout.appDir],
    writable: [layout.dataDir, layout.mediaRoot, ...resources],
    relaxed: host.systemd.hardening,
  };
}

/** The boot unit: reads the active-slot record, asks systemd to start that slot. */
export function bootConfinement(host: HostConfig, layout: Layout): Confinement {
  return {
    readable: [posix.dirname(layout.activeSlotFile)],
    writable: [],
    relaxed: host.systemd.hardening,
  };
}

/**
 * A scheduled backup: reads the app's data and media (SQLite needs write
 * access to the database folder for its locks), writes its staging folder and
 * lock beside it, and the caches borg and rclone keep in the home of the user
 * it runs as.
 */
export function backupConfinement(
  host: HostConfig,
  layout: Layout,
  o: { stagingDir: string; userHome: string },
): Confinement {
  return {
    writable: [
      layout.dataDir,
      posix.dirname(o.stagingDir),
      optional(posix.join(o.userHome, ".cache")),
      optional(posix.join(o.userHome, ".config")),
    ],
    usesHome: true,
    relaxed: host.systemd.hardening,
  };
}

/** litestream: the databases and its own files beside them, in the data folder. */
export function litestreamConfinement(host: HostConfig, layout: Layout): Confinement {
  return { writable: [layout.dataDir], relaxed: host.systemd.hardening };
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
