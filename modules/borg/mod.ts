/**
 * borg: scheduled borgbackup archives of the app's SQLite databases and
 * media files, in a repository over SSH (any port, `remote_path` for
 * storage boxes) or on the server. The passphrase lives in a 0600 file that
 * borg reads through BORG_PASSCOMMAND, never in an argument; archives are
 * pruned with keep_within/keep_hourly/daily/weekly/monthly; a stale lock is
 * broken only when no borg process runs on the server. `djaploy restore
 * --backend borg` lists and restores. See docs/operations-modules.md.
 */
import { backupModule } from "../../lib/backup/module_steps.ts";
import { BACKUP_PY_PATH, backupLayout, PYTHON } from "../../lib/backup/layout.ts";
import { configSecret } from "../../lib/backup/secrets.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import type { Step } from "../../lib/module.ts";
import { putFile, sha256 } from "../../lib/remote_ops.ts";
import { Secret } from "../../lib/secret.ts";

export function validateBorg(host: HostConfig): void {
  const missing = (["repository", "passphrase"] as const).filter((k) => !host.borg[k]);
  if (missing.length) {
    throw new ConfigError(
      `Configure the borg module for host ${host.name}: borg.${missing.join(" and borg.")} ${
        missing.length > 1 ? "are" : "is"
      } missing`,
      {
        hint: 'Add e.g. [borg] repository = "ssh://u123@u123.example.com:23/./backups/app", ' +
          'passphrase = "env:BORG_PASSPHRASE" (see docs/operations-modules.md).',
      },
    );
  }
}

/** The ssh key file must end with a newline, or ssh refuses it. */
function keyText(secret: Secret): Secret {
  const text = secret.reveal().replaceAll("\r\n", "\n");
  return new Secret(text.endsWith("\n") ? text : `${text}\n`);
}

/** `borg init` once per repository: the marker holds the URL it was done for. */
const repository: Step = {
  name: "borg repository",
  async run(ctx) {
    const b = backupLayout(ctx.host, ctx.layout, "borg");
    const marker = `${ctx.host.borg.repository}\n`;
    if (ctx.facts.fileHash(b.borgInitMarker) === sha256(marker)) return;
    const r = await ctx.exec.run({
      argv: [PYTHON, BACKUP_PY_PATH, "init", b.settingsFile],
      as: "root",
    });
    await putFile(ctx, { path: b.borgInitMarker, content: marker, mode: "0600" });
    if (r.stdout.includes("created repository")) {
      ctx.changed(`created the borg repository ${ctx.host.borg.repository}`);
    }
  },
};

export default backupModule({
  backend: "borg",
  description: "Scheduled borgbackup archives of the SQLite databases and media files",
  packages: ["borgbackup", "openssh-client"],
  validate: validateBorg,
  credentials: async (ctx) => {
    const b = backupLayout(ctx.host, ctx.layout, "borg");
    const g = ctx.host.borg;
    const files = [{
      path: b.borgPassphrase,
      content: await configSecret(ctx, g.passphrase!, "borg.passphrase"),
      mode: "0600",
    }];
    if (g.ssh_key) {
      files.push({
        path: b.borgSshKey,
        content: keyText(await configSecret(ctx, g.ssh_key, "borg.ssh_key")),
        mode: "0600",
      });
    }
    return files;
  },
  files: (host, layout) => {
    const b = backupLayout(host, layout, "borg");
    return [b.borgPassphrase, b.borgSshKey, b.borgInitMarker];
  },
  more: [repository],
});
