/**
 * rclone: scheduled backups of the app's SQLite databases (SQLite's backup
 * API, integrity-checked) and media files to any rclone remote (SFTP, S3,
 * ...), with retention_days. The remote's credentials are secret references,
 * written to root's 0600 rclone.conf, which systemd hands to the job
 * (LoadCredential=) that runs as the app's user. `djaploy restore
 * --backend rclone` lists and restores. See docs/operations-modules.md.
 */
import { backupModule } from "../../lib/backup/module_steps.ts";
import { backupLayout } from "../../lib/backup/layout.ts";
import { rcloneConf } from "../../lib/backup/rclone_conf.ts";
import { configSecret } from "../../lib/backup/secrets.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import type { StepContext } from "../../lib/module.ts";
import { isSecretRef, type Secret } from "../../lib/secret.ts";

/** The remote's options, secret references resolved. */
export async function rcloneRemote(
  ctx: Pick<StepContext, "secret" | "project">,
  host: HostConfig,
): Promise<Map<string, string | Secret>> {
  const out = new Map<string, string | Secret>();
  for (const [key, value] of Object.entries(host.rclone.remote ?? {})) {
    out.set(
      key,
      isSecretRef(value) ? await configSecret(ctx, value, `rclone.remote.${key}`) : value,
    );
  }
  return out;
}

export function validateRclone(host: HostConfig): void {
  if (!host.rclone.remote) {
    throw new ConfigError(
      `Configure the rclone module for host ${host.name}: [rclone.remote] is missing`,
      {
        hint: 'Add e.g. [rclone.remote] type = "sftp", host = "backup.example.com", ' +
          'user = "backup", pass = "env:BACKUP_PASSWORD" (see docs/operations-modules.md).',
      },
    );
  }
}

export default backupModule({
  backend: "rclone",
  description: "Scheduled backups of the SQLite databases and media files to an rclone remote",
  packages: ["rclone"],
  validate: validateRclone,
  credentials: async (ctx) => [{
    path: backupLayout(ctx.host, ctx.layout, "rclone").rcloneConf,
    content: rcloneConf(await rcloneRemote(ctx, ctx.host)),
    mode: "0600",
  }],
  files: (host, layout) => [backupLayout(host, layout, "rclone").rcloneConf],
  jobCredentials: (host, layout) => [backupLayout(host, layout, "rclone").rcloneConf],
});
