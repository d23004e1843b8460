/**
 * The local certificate store (issue_on = "controller"): certbot's own
 * folders (account, keys, certificates, renewal settings) under one private
 * folder per project, outside the git tree. Nothing here is ever printed
 * except paths, names and dates.
 */
import { join } from "../paths.ts";
import type { CertificatesConfig, ProjectConfig } from "../config/types.ts";
import { Secret } from "../secrets/secret.ts";
import { type CertInfo, parseCertificate } from "./x509.ts";
import { UserError } from "../errors.ts";

export interface CertStore {
  readonly dir: string;
  /** certbot --config-dir: accounts/, archive/, live/, renewal/. */
  readonly configDir: string;
  readonly workDir: string;
  readonly logsDir: string;
  /** The lock two renew runs share. */
  readonly lockFile: string;
}

/** The store's folder: [certificates] store, or ~/.local/share/djaploy/certs/<project>. */
export function storeDir(certs: CertificatesConfig, project: ProjectConfig): string {
  if (certs.store) return certs.store;
  const data = Deno.env.get("XDG_DATA_HOME") ||
    join(Deno.env.get("HOME") ?? "/", ".local", "share");
  return join(data, "djaploy", "certs", project.project_name);
}

export function certStore(dir: string): CertStore {
  return {
    dir,
    configDir: join(dir, "certbot"),
    workDir: join(dir, "work"),
    logsDir: join(dir, "logs"),
    lockFile: join(dir, "renew.lock"),
  };
}

/** Creates the store's folders, private to this user. */
export async function ensureStore(store: CertStore): Promise<void> {
  try {
    for (const d of [store.dir, store.configDir, store.workDir, store.logsDir]) {
      await Deno.mkdir(d, { recursive: true, mode: 0o700 });
    }
    await Deno.chmod(store.dir, 0o700);
  } catch (err) {
    throw new UserError(
      `Cannot create the certificate store ${store.dir}: ${
        err instanceof Error ? err.message : err
      }`,
      { hint: "Set [certificates] store to a folder you can write." },
    );
  }
}

/** A certificate in the store, with its key (a Secret). */
export interface StoredCert {
  readonly name: string;
  readonly fullchain: string;
  readonly privkey: Secret;
  readonly info: CertInfo;
  /** The ACME directory that issued it (from certbot's renewal settings). */
  readonly server?: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** The stored certificate of a domain, or undefined when there is none (or it is unreadable). */
export async function readStored(store: CertStore, name: string): Promise<StoredCert | undefined> {
  const live = join(store.configDir, "live", name);
  const fullchain = await readIfExists(join(live, "fullchain.pem"));
  const key = await readIfExists(join(live, "privkey.pem"));
  if (fullchain === undefined || key === undefined) return undefined;
  const info = parseCertificate(fullchain);
  if (!info) return undefined;
  const renewal = await readIfExists(join(store.configDir, "renewal", `${name}.conf`)) ?? "";
  return {
    name,
    fullchain,
    privkey: new Secret(key),
    info,
    server: /^server = (\S+)$/m.exec(renewal)?.[1],
  };
}
