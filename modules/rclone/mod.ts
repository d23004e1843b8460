/**
 * rclone: scheduled backups of the app's SQLite databases (SQLite's backup
 * API, integrity-checked) and media files to any rclone remote (SFTP, S3,
 * ...), with retention_days. The remote's credentials are secret references,
 * written to root's 0600 rclone.conf, which systemd hands to the job
 * (LoadCredential=) that runs as the app's user. `djaploy restore
 * --backend rclone` lists and restores. See docs/operations-modules.md.
 */
import { backupLayout, backupModule, rcloneConf, rcloneRemote, validateRclone } from "../../mod.ts";

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
