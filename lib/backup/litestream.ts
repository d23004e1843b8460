/**
 * What the litestream module, `djaploy restore --backend litestream` and
 * `djaploy verify` share: where litestream lives, the config check and
 * /etc/litestream.yml.
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig, LitestreamReplica } from "../config/types.ts";
import type { Layout } from "../host/layout.ts";
import type { StepContext } from "../engine/module_api.ts";
import { ConfigError } from "../errors.ts";
import { Secret } from "../secrets/secret.ts";
import { type LitestreamReplicaData, litestreamYml } from "../../templates/litestream.ts";
import { configSecret } from "./secrets.ts";

/** Where the litestream binary is installed. */
export const LITESTREAM_BIN = "/usr/local/bin/litestream";
/** litestream's config (0640, secrets inside). */
export const LITESTREAM_CONFIG = "/etc/litestream.yml";
/** The litestream service. */
export const LITESTREAM_UNIT = "litestream.service";
/** Its unit file. */
export const LITESTREAM_UNIT_PATH = "/etc/systemd/system/litestream.service";
/** The SHA-256 of the archive the installed binary came from. */
export const LITESTREAM_MARKER = "/usr/local/lib/djaploy/litestream.sha256";

/** Throws a ConfigError when `[litestream]` lacks the checksum, a database or a replica. */
export function validateLitestream(host: HostConfig): void {
  const l = host.litestream;
  const problem = !l.sha256
    ? "litestream.sha256 is missing (the release archive's checksum)"
    : l.databases.length === 0
    ? "litestream.databases is empty"
    : l.replicas.length === 0
    ? "[[litestream.replicas]] is missing"
    : undefined;
  if (problem) {
    throw new ConfigError(`Configure the litestream module for host ${host.name}: ${problem}`, {
      hint: "See docs/operations-modules.md for a complete [litestream] table.",
    });
  }
}

async function replicaData(
  ctx: Pick<StepContext, "secret" | "project">,
  r: LitestreamReplica,
  i: number,
): Promise<LitestreamReplicaData> {
  const reveal = async (v: string | LitestreamReplica["password"], key: string) =>
    v === undefined
      ? undefined
      : typeof v === "string"
      ? v
      : (await configSecret(ctx, v, `litestream.replicas[${i}].${key}`)).reveal();
  return {
    type: r.type,
    path: r.path,
    bucket: r.bucket,
    endpoint: r.endpoint,
    region: r.region,
    accessKeyId: await reveal(r.access_key_id, "access_key_id"),
    secretAccessKey: await reveal(r.secret_access_key, "secret_access_key"),
    forcePathStyle: r.force_path_style,
    host: r.host,
    user: r.user,
    password: await reveal(r.password, "password"),
    keyPath: r.key_path,
    retention: r.retention,
    syncInterval: r.sync_interval,
  };
}

/** /etc/litestream.yml for `host` (secrets revealed, so a Secret when it holds any). */
export async function litestreamConfig(
  ctx: Pick<StepContext, "secret" | "project">,
  host: HostConfig,
  layout: Layout,
): Promise<string | Secret> {
  const l = host.litestream;
  const replicas = await Promise.all(l.replicas.map((r, i) => replicaData(ctx, r, i)));
  const text = litestreamYml(
    l.databases.map((name) => ({ name, path: remotePath.join(layout.dataDir, name) })),
    replicas,
  );
  const secret = l.replicas.some((r) =>
    r.password !== undefined || r.secret_access_key !== undefined ||
    (r.access_key_id !== undefined && typeof r.access_key_id !== "string")
  );
  return secret ? new Secret(text) : text;
}
