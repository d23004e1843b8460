/**
 * litestream: continuous replication of the app's SQLite databases to S3
 * (or any S3-compatible service), SFTP or a folder. litestream is not in
 * Debian: its release archive (url, sha256) is downloaded on the deploying
 * machine, checked, and installed to /usr/local/bin. /etc/litestream.yml
 * (0640, secrets inside) and litestream.service follow [litestream]; the
 * service restarts when either changes. `djaploy restore --backend
 * litestream` restores to a point in time. See docs/operations-modules.md.
 */
import { posix } from "node:path";
import { defineModule, type Step, type StepContext } from "../../lib/module.ts";
import type { FactProbe } from "../../lib/facts.ts";
import type { HostConfig, LitestreamReplica } from "../../lib/config/types.ts";
import type { Layout } from "../../lib/layout.ts";
import { unitsProbe } from "../../lib/probes.ts";
import { putFile, sha256 } from "../../lib/remote_ops.ts";
import { litestreamConfinement } from "../../lib/confinement.ts";
import { shScript } from "../../lib/remote_command.ts";
import { ConfigError } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import { configSecret } from "../../lib/backup/secrets.ts";
import { BACKUP_PY_PATH } from "../../lib/backup/layout.ts";
import { putProgram } from "../../lib/backup/module_steps.ts";
import {
  CHECK_SHA256_SH,
  downloadVerified,
  fillUrl,
  goArch,
  shipVerified,
} from "../../lib/verified_download.ts";
import {
  type LitestreamReplicaData,
  litestreamUnit,
  litestreamYml,
} from "../../templates/litestream.ts";
import { INSTALL_SH as INSTALL_SH_ONLY } from "./programs.gen.ts";

export const LITESTREAM_BIN = "/usr/local/bin/litestream";
export const LITESTREAM_CONFIG = "/etc/litestream.yml";
export const LITESTREAM_UNIT = "litestream.service";
export const LITESTREAM_UNIT_PATH = "/etc/systemd/system/litestream.service";
/** The SHA-256 of the archive the installed binary came from. */
export const LITESTREAM_MARKER = "/usr/local/lib/djaploy/litestream.sha256";

/** `uname -m` of the host. */
export const archProbe: FactProbe<string> = {
  name: "uname-m",
  argv: ["uname", "-m"],
  parse: (out) => out.trim(),
};

const unitProbe = unitsProbe([LITESTREAM_UNIT], "units:litestream");

// Arguments: archive sha256 destination.
const INSTALL_SH = CHECK_SHA256_SH + INSTALL_SH_ONLY;

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
    l.databases.map((name) => ({ name, path: posix.join(layout.dataDir, name) })),
    replicas,
  );
  const secret = l.replicas.some((r) =>
    r.password !== undefined || r.secret_access_key !== undefined ||
    (r.access_key_id !== undefined && typeof r.access_key_id !== "string")
  );
  return secret ? new Secret(text) : text;
}

/** backup.py: `djaploy restore --backend litestream` lists and restores through it. */
const program: Step = {
  name: "backup program",
  async run(ctx) {
    await putProgram(ctx);
  },
};

const binary: Step = {
  name: "litestream binary",
  async run(ctx) {
    const l = ctx.host.litestream;
    const marker = `${l.sha256}\n`;
    if (ctx.facts.fileHash(LITESTREAM_MARKER) === sha256(marker)) return;
    const arch = goArch(ctx.facts.get(archProbe));
    const url = fillUrl(l.url, { version: l.version, arch });
    const file = await downloadVerified(url, l.sha256!, {
      what: `litestream ${l.version}`,
      signal: ctx.signal,
    });
    const archive = await shipVerified(ctx, file);
    await ctx.exec.run({
      argv: shScript(INSTALL_SH, archive, file.sha256, LITESTREAM_BIN),
      as: "root",
    });
    await putFile(ctx, { path: LITESTREAM_MARKER, content: marker });
    ctx.notes.set("litestream:restart", true);
    ctx.changed(`installed litestream ${l.version} (${arch})`);
  },
};

const config: Step = {
  name: "litestream config",
  async run(ctx) {
    const wrote = await putFile(ctx, {
      path: LITESTREAM_CONFIG,
      content: await litestreamConfig(ctx, ctx.host, ctx.layout),
      mode: "0640",
      owner: `root:${ctx.host.app_user}`,
    });
    if (wrote) ctx.notes.set("litestream:restart", true);
  },
};

const service: Step = {
  name: "litestream service",
  async run(ctx) {
    const wrote = await putFile(ctx, {
      path: LITESTREAM_UNIT_PATH,
      content: litestreamUnit({
        appUser: ctx.host.app_user,
        binary: LITESTREAM_BIN,
        config: LITESTREAM_CONFIG,
        confinement: litestreamConfinement(ctx.host, ctx.layout),
      }),
    });
    if (wrote) await ctx.exec.run({ argv: ["systemctl", "daemon-reload"], as: "root" });
    const state = ctx.facts.get(unitProbe).get(LITESTREAM_UNIT);
    if (state?.enabled !== "enabled" || state?.active !== "active") {
      await ctx.exec.run({
        argv: ["systemctl", "enable", "--now", "--quiet", LITESTREAM_UNIT],
        as: "root",
      });
      ctx.changed("started litestream");
    } else if (wrote || ctx.notes.get("litestream:restart")) {
      await ctx.exec.run({ argv: ["systemctl", "restart", LITESTREAM_UNIT], as: "root" });
      ctx.changed("restarted litestream");
    }
  },
};

export default defineModule({
  name: "litestream",
  description: "Continuous SQLite replication with litestream (S3, SFTP, file)",
  packages: () => ["ca-certificates"],
  facts: (host) => {
    validateLitestream(host);
    return [archProbe, unitProbe];
  },
  files: () => [BACKUP_PY_PATH, LITESTREAM_MARKER, LITESTREAM_CONFIG, LITESTREAM_UNIT_PATH],
  steps: {
    configure: [program, binary, config, service],
    "deploy:configure": [program, binary, config, service],
  },
});
