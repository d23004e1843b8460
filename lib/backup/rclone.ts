/**
 * What the rclone module and `djaploy restore --backend rclone` share: the
 * config check and the remote's options.
 */
import { ConfigError } from "../errors.ts";
import type { HostConfig } from "../config/types.ts";
import type { StepContext } from "../engine/module_api.ts";
import { isSecretRef, type Secret } from "../secrets/secret.ts";
import { configSecret } from "./secrets.ts";

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

/** Throws a ConfigError when `[rclone.remote]` is missing. */
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
