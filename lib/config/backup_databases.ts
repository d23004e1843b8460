/**
 * The databases the rclone and borg modules back up, checked when the
 * environment is loaded: each path in the app user's home, and a database
 * the modules can know (no secret reference where a path must be read).
 * The error names the file and key that set the value.
 */
import type { HostConfig } from "./types.ts";
import type { Layer } from "./validate_layer.ts";
import { ConfigError } from "../errors.ts";
import { layoutFor } from "../host/layout.ts";
import { formatProblems } from "./problems.ts";
import { backupDatabases, DatabaseSettingError } from "../backup/databases.ts";
import { isTable } from "./validators.ts";

export interface LayerSource {
  readonly file: string;
  readonly source: () => Promise<string>;
}

function sets(layer: Layer | undefined, key: readonly (string | number)[]): boolean {
  const [table, name] = key;
  const t = layer?.[table as string];
  return isTable(t) && t[name as string] !== undefined;
}

export async function checkBackupDatabases(
  hosts: readonly HostConfig[],
  o: {
    hostLayers: readonly Layer[];
    defaults: Layer;
    inventory: LayerSource;
    project: LayerSource;
  },
): Promise<void> {
  const lines: string[] = [];
  for (const [i, host] of hosts.entries()) {
    for (const backend of ["rclone", "borg"] as const) {
      if (!host.modules.some((m) => m.spec === backend)) continue;
      try {
        backupDatabases(host, layoutFor(host), backend);
      } catch (e) {
        if (!(e instanceof DatabaseSettingError)) throw e;
        const { key, message } = e.problem;
        const [where, path] = sets(o.hostLayers[i], key)
          ? [o.inventory, ["hosts", i, ...key]]
          : sets(o.defaults, key)
          ? [o.inventory, ["defaults", ...key]]
          : [o.project, [...key]];
        const text = formatProblems([{ path, message }], where.file, await where.source())[0];
        if (!lines.includes(text)) lines.push(text);
      }
    }
  }
  if (lines.length) {
    throw new ConfigError(lines.join("\n"), {
      hint: 'See docs/operations-modules.md, "Which database is backed up".',
    });
  }
}
