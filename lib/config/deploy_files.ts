/**
 * Files copied to the servers as they are: infra/deploy_files/<env>/ mirrors
 * the server's file system, so infra/deploy_files/production/etc/foo.conf
 * becomes /etc/foo.conf with the local file's mode.
 *
 * Only regular files and folders are accepted. Symlinks are rejected
 * whatever they point to (a link could pull in a file from outside the tree,
 * and what the server should get, a link or the file, is ambiguous); so are
 * sockets, FIFOs and devices.
 */
import { join, relative } from "node:path";
import * as remotePath from "../remote_path.ts";
import { ConfigError } from "../errors.ts";
import { SAFE_NAME } from "./schema.ts";
import type { HostConfig } from "./types.ts";
import { isAppWritable, layoutFor } from "../host/layout.ts";

export interface DeployFile {
  /** Absolute path on the deploying machine. */
  readonly localPath: string;
  /** Absolute path on the server, e.g. "/etc/systemd/system/hello-worker.service". */
  readonly remotePath: string;
  /** Permission bits of the local file, e.g. 0o644. */
  readonly mode: number;
}

/** The files under `<infraDir>/deploy_files/<envName>/`, sorted by remote path; none when the folder is missing. */
export async function listDeployFiles(infraDir: string, envName: string): Promise<DeployFile[]> {
  if (!SAFE_NAME.test(envName)) {
    throw new ConfigError(
      `List deploy files: environment name must match ${SAFE_NAME.source}: got ${
        JSON.stringify(envName)
      }`,
    );
  }
  const root = join(infraDir, "deploy_files", envName);
  try {
    const info = await Deno.stat(root);
    if (!info.isDirectory) throw rejected(root, "must be a folder", info);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const files: DeployFile[] = [];
  await walk(root, [], files);
  return files.sort((
    a,
    b,
  ) => (a.remotePath < b.remotePath ? -1 : a.remotePath > b.remotePath ? 1 : 0));
}

async function walk(root: string, parts: string[], out: DeployFile[]): Promise<void> {
  const dir = join(root, ...parts);
  for await (const entry of Deno.readDir(dir)) {
    const local = join(dir, entry.name);
    if (entry.name === "." || entry.name === ".." || /[/\\\0]/.test(entry.name)) {
      throw new ConfigError(`${display(local)}: must not have "..", "/" or "\\" in its name`);
    }
    const info = await Deno.lstat(local);
    if (info.isDirectory) {
      await walk(root, [...parts, entry.name], out);
    } else if (info.isFile) {
      out.push({
        localPath: local,
        remotePath: remotePath.join("/", ...parts, entry.name),
        mode: (info.mode ?? 0o644) & 0o7777,
      });
    } else {
      throw rejected(local, "must be a regular file or folder", info);
    }
  }
}

function rejected(path: string, rule: string, info: Deno.FileInfo): ConfigError {
  const kind = info.isSymlink
    ? "a symlink"
    : info.isFile
    ? "a file"
    : info.isFifo
    ? "a FIFO"
    : info.isSocket
    ? "a socket"
    : info.isBlockDevice || info.isCharDevice
    ? "a device"
    : "something else";
  const hint = info.isSymlink
    ? "Symlinks are not followed in deploy_files: copy the file into the tree instead."
    : undefined;
  return new ConfigError(`${display(path)}: ${rule}: got ${kind}`, { hint });
}

function display(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel !== "" && rel.length < path.length ? rel : path;
}

/**
 * deploy_files are copied as root: none may land where the app user can
 * write (its home, its units' runtime folders, /tmp), where a link it
 * planted would redirect root's write. Ship such files with the code.
 */
export function checkDeployFilesPlaces(
  files: readonly DeployFile[],
  host: HostConfig,
): void {
  const layout = layoutFor(host);
  for (const f of files) {
    if (isAppWritable(host, layout, f.remotePath)) {
      throw new ConfigError(
        `${
          display(f.localPath)
        }: ${f.remotePath} is in a folder the app user ${host.app_user} can write (host ${host.name}); deploy_files are written as root and must go elsewhere`,
        {
          hint:
            "Ship files for the app's own folders with the code (git), or write them from a module step as the app user.",
        },
      );
    }
  }
}
