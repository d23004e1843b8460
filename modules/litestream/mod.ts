/**
 * litestream: continuous replication of the app's SQLite databases to S3
 * (or any S3-compatible service), SFTP or a folder. litestream is not in
 * Debian: its release archive (url, sha256) is downloaded on the deploying
 * machine, checked, and installed to /usr/local/bin. /etc/litestream.yml
 * (0640, secrets inside) and litestream.service follow [litestream]; the
 * service restarts when either changes. `djaploy restore --backend
 * litestream` restores to a point in time. See docs/operations-modules.md.
 */
import {
  archProbe,
  BACKUP_PY_PATH,
  CHECK_SHA256_SH,
  defineModule,
  downloadVerified,
  fillUrl,
  goArch,
  LITESTREAM_BIN,
  LITESTREAM_CONFIG,
  LITESTREAM_MARKER,
  LITESTREAM_UNIT,
  LITESTREAM_UNIT_PATH,
  litestreamConfig,
  litestreamConfinement,
  note,
  putFile,
  putProgram,
  sha256,
  shipVerified,
  shScript,
  type Step,
  unitsProbe,
  validateLitestream,
} from "../../mod.ts";
import { litestreamUnit } from "../../templates/litestream.ts";
import { INSTALL_SH as INSTALL_SH_ONLY } from "./programs.gen.ts";

/** Provided by the install and config steps: litestream runs a new binary or config; read by the service step. */
const RESTART = note<boolean>("litestream restart");

const unitProbe = unitsProbe([LITESTREAM_UNIT], "units:litestream");

// Arguments: archive sha256 destination.
const INSTALL_SH = CHECK_SHA256_SH + INSTALL_SH_ONLY;

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
    ctx.shared.set(RESTART, true);
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
    if (wrote) ctx.shared.set(RESTART, true);
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
    } else if (wrote || ctx.shared.get(RESTART)) {
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
