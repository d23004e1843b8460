/** The secret references of the operations modules' tables ([rclone], [borg], [litestream], [tailscale]). */
import { isSecretRef, type SecretRef } from "../secrets/secret.ts";
import type { HostConfig } from "../config/types.ts";

/**
 * The secret references of the operations modules a host enables, so that a
 * run resolves its 1Password references together (one `op` call).
 */
export function operationsSecretRefs(host: HostConfig): SecretRef[] {
  const enabled = (name: string) => host.modules.some((m) => m.spec === name);
  const refs: unknown[] = [];
  if (enabled("rclone")) refs.push(...Object.values(host.rclone.remote ?? {}));
  if (enabled("borg")) refs.push(host.borg.passphrase, host.borg.ssh_key);
  if (enabled("litestream")) {
    for (const r of host.litestream.replicas) {
      refs.push(r.access_key_id, r.secret_access_key, r.password);
    }
  }
  if (enabled("tailscale")) refs.push(host.tailscale.auth_key);
  return refs.filter(isSecretRef);
}
