/** litestream's configuration file and systemd unit. */
import type { ReplicaType } from "../lib/config/types.ts";
import { type Confinement, hardening } from "./hardening.ts";

/** A replica with its secrets already revealed (the file is written 0640 root:<app_user>). */
export interface LitestreamReplicaData {
  readonly type: ReplicaType;
  readonly path: string;
  readonly bucket?: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly forcePathStyle?: boolean;
  readonly host?: string;
  readonly user?: string;
  readonly password?: string;
  readonly keyPath?: string;
  readonly retention?: string;
  readonly syncInterval?: string;
}

export interface LitestreamDatabaseData {
  /** The database's absolute path on the server. */
  readonly path: string;
  /** Its file name below the data folder: the replica path's last part. */
  readonly name: string;
}

/** JSON strings are YAML double-quoted scalars: any value is safe in the file. */
const y = (v: string | boolean) => (typeof v === "boolean" ? String(v) : JSON.stringify(v));

function replicaLines(r: LitestreamReplicaData, dbName: string): string[] {
  const fields: [string, string | boolean | undefined][] = [
    ["type", r.type],
    ["bucket", r.bucket],
    ["path", r.type === "s3" ? `${r.path.replace(/\/+$/, "")}/${dbName}` : `${r.path}/${dbName}`],
    ["endpoint", r.endpoint],
    ["region", r.region],
    ["access-key-id", r.accessKeyId],
    ["secret-access-key", r.secretAccessKey],
    ["force-path-style", r.forcePathStyle],
    ["host", r.host],
    ["user", r.user],
    ["password", r.password],
    ["key-path", r.keyPath],
    ["retention", r.retention],
    ["sync-interval", r.syncInterval],
  ];
  const set = fields.filter(([, v]) => v !== undefined) as [string, string | boolean][];
  return set.map(([k, v], i) => `${i === 0 ? "      - " : "        "}${k}: ${y(v)}`);
}

/** /etc/litestream.yml: every database replicated to every replica. */
export function litestreamYml(
  databases: readonly LitestreamDatabaseData[],
  replicas: readonly LitestreamReplicaData[],
): string {
  const lines = ["# Written by djaploy from [litestream] (docs/operations-modules.md).", "dbs:"];
  for (const db of databases) {
    lines.push(`  - path: ${y(db.path)}`, "    replicas:");
    for (const r of replicas) lines.push(...replicaLines(r, db.name));
  }
  return lines.join("\n") + "\n";
}

/** litestream.service: replicates as the app's user (its files next to the database stay the app's). */
export function litestreamUnit(
  d: { appUser: string; binary: string; config: string; confinement: Confinement },
): string {
  return `# Written by djaploy: continuous replication of the app's SQLite databases.
[Unit]
Description=Litestream: SQLite replication (djaploy)
Wants=network-online.target
After=network-online.target

[Service]
User=${d.appUser}
Group=${d.appUser}
ExecStart=${d.binary} replicate -config ${d.config}
Restart=always
RestartSec=5
${hardening("litestream", d.confinement)}
[Install]
WantedBy=multi-user.target
`;
}
