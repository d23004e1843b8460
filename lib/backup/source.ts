/**
 * Where `restore` reads backups from: a host of the source environment and
 * its backend's settings and credentials (secrets resolved on this machine).
 * The same source serves listing and restoring, here or on a target host.
 */
import type { EnvironmentConfig, HostConfig, ProjectConfig } from "../config/types.ts";
import { layoutFor } from "../host/layout.ts";
import type { SecretResolver } from "../secrets/resolve.ts";
import { Secret } from "../secrets/secret.ts";
import { UsageError } from "../errors.ts";
import { quoteList } from "../config/validators.ts";
import { RESTORE_BACKENDS, type RestoreBackend, sourceSettings } from "./layout.ts";
import { rcloneConf } from "./rclone_conf.ts";
import { rcloneRemote, validateRclone } from "./rclone.ts";
import { validateBorg } from "./borg.ts";
import { litestreamConfig, validateLitestream } from "./litestream.ts";

export interface BackupSource {
  readonly backend: RestoreBackend;
  readonly env: string;
  readonly host: HostConfig;
  /** backup.py's `source` settings. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Credentials by backup.py's key: rclone_conf, passphrase, ssh_key, litestream_yml. */
  readonly secrets: ReadonlyMap<string, Secret>;
  /** How people see it: "rclone backups of web-1 (production)". */
  readonly label: string;
}

function enabled(host: HostConfig, backend: RestoreBackend): boolean {
  return host.modules.some((m) => m.spec === backend);
}

/** `--backend`, or the only backup module the environment's hosts enable. */
export function pickBackend(env: EnvironmentConfig, flag: string | undefined): RestoreBackend {
  if (flag !== undefined) {
    if (!(RESTORE_BACKENDS as readonly string[]).includes(flag)) {
      throw new UsageError(
        `--backend must be one of ${quoteList(RESTORE_BACKENDS)}: got "${flag}"`,
      );
    }
    return flag as RestoreBackend;
  }
  const used = RESTORE_BACKENDS.filter((b) => env.hosts.some((h) => enabled(h, b)));
  if (used.length === 1) return used[0];
  throw new UsageError(
    used.length === 0
      ? `Enable a backup module in ${env.name}: none of ${
        quoteList(RESTORE_BACKENDS)
      } is in modules`
      : `Choose a backend with --backend: ${env.name} uses ${quoteList(used)}`,
  );
}

/** The source host: `--from-host`, else the environment's first host with the module. */
export function pickSourceHost(
  env: EnvironmentConfig,
  backend: RestoreBackend,
  name: string | undefined,
): HostConfig {
  const candidates = env.hosts.filter((h) => enabled(h, backend));
  if (name !== undefined) {
    const host = env.hosts.find((h) => h.name === name);
    if (!host) {
      throw new UsageError(
        `Unknown host "${name}" for --from-host: ${env.name} has ${
          quoteList(env.hosts.map((h) => h.name))
        }`,
      );
    }
    return host;
  }
  if (candidates.length === 0) {
    throw new UsageError(
      `Enable the ${backend} module in ${env.name}: no host lists it in modules, so it has no ${backend} backups`,
    );
  }
  return candidates[0];
}

export async function backupSource(opts: {
  project: ProjectConfig;
  env: EnvironmentConfig;
  backend: RestoreBackend;
  host: HostConfig;
  secrets: SecretResolver;
}): Promise<BackupSource> {
  const { host, backend } = opts;
  const ctx = {
    project: opts.project,
    secret: (v: Parameters<SecretResolver["secret"]>[0], where: string) =>
      opts.secrets.secret(v, where),
  };
  const secrets = new Map<string, Secret>();
  if (backend === "rclone") {
    validateRclone(host);
    secrets.set("rclone_conf", rcloneConf(await rcloneRemote(ctx, host)));
  } else if (backend === "borg") {
    validateBorg(host);
    secrets.set("passphrase", await opts.secrets.secret(host.borg.passphrase!, "borg.passphrase"));
    if (host.borg.ssh_key) {
      const key = (await opts.secrets.secret(host.borg.ssh_key, "borg.ssh_key")).reveal();
      secrets.set("ssh_key", new Secret(key.endsWith("\n") ? key : `${key}\n`));
    }
  } else {
    validateLitestream(host);
    const yml = await litestreamConfig(ctx, host, layoutFor(host));
    secrets.set("litestream_yml", yml instanceof Secret ? yml : new Secret(yml));
  }
  return {
    backend,
    env: opts.env.name,
    host,
    settings: sourceSettings(host, opts.env.name, backend, layoutFor(host)),
    secrets,
    label: `${backend} backups of ${host.name} (${opts.env.name})`,
  };
}

/** backup.py's stdin: the request with the credentials in it (a Secret: never printed). */
export function requestWithSecrets(
  source: BackupSource,
  request: Readonly<Record<string, unknown>>,
): Secret {
  const body: Record<string, unknown> = { ...request, source: source.settings };
  for (const [key, secret] of source.secrets) body[key] = secret.reveal();
  return new Secret(JSON.stringify(body));
}
