/**
 * `restore --list` and `restore --target local`: rclone or borg run on this
 * machine (installed like ssh and rsync), with the source's credentials in
 * 0600 files of a private temp folder removed afterwards, so a backup can be
 * listed and fetched even when the source server is gone.
 */
import { nodeSqlite } from "../node_builtins.ts";
import { expandHome, join } from "../paths.ts";
import { type ProcessResult, ProgramNotFoundError, runProcess } from "../exec/process.ts";
import { quote } from "../shell.ts";
import { sshTrustArgs } from "../exec/ssh.ts";
import { UsageError, UserError } from "../errors.ts";
import type { BackupEntry } from "./choose.ts";
import type { BackupSource } from "./source.ts";
import { textOrder } from "../order.ts";

const LOCK_ERRORS = ["Failed to create/acquire the lock", "LockTimeout", "lock.exclusive"];
const STAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export interface Manifest {
  readonly time?: string;
  readonly host?: string;
  readonly env?: string;
  readonly databases: readonly { readonly name: string; readonly bytes?: number }[];
  readonly files: readonly string[];
}

/** The time a backup's stamp (`2025-01-31T030000Z`) stands for, or undefined. */
export function stampTime(stamp: string): string | undefined {
  const m = STAMP.exec(stamp);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+00:00` : undefined;
}

interface Tool {
  readonly program: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

async function withCredentials<T>(
  source: BackupSource,
  fn: (tool: Tool) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "djaploy-restore-" });
  await Deno.chmod(dir, 0o700);
  try {
    const file = async (key: string) => {
      const secret = source.secrets.get(key);
      if (!secret) return undefined;
      const path = join(dir, key);
      await Deno.writeTextFile(path, secret.reveal(), { mode: 0o600, createNew: true });
      return path;
    };
    if (source.backend === "rclone") {
      return await fn({
        program: "rclone",
        args: ["--config", (await file("rclone_conf"))!],
        env: {},
      });
    }
    if (source.backend === "borg") {
      const pass = (await file("passphrase"))!;
      const key = await file("ssh_key");
      // The repository host's key is checked like djaploy's own ssh: the source host's
      // known_hosts_file (or ssh's own), kept from run to run, a new host accepted once.
      const knownHosts = source.host.known_hosts_file;
      const rsh = [
        "ssh",
        ...sshTrustArgs({
          strict: source.host.strict_host_key_checking,
          knownHostsFile: knownHosts ? expandHome(knownHosts) : undefined,
          key,
        }),
      ];
      const remotePath = source.settings.remote_path as string | undefined;
      // No BORG_*_IS_OK answers: a repository borg does not trust here stops with borg's question.
      return await fn({
        program: "borg",
        args: remotePath ? ["--remote-path", remotePath] : [],
        env: {
          BORG_PASSCOMMAND: `cat ${quote(pass)}`,
          BORG_RSH: rsh.map(quote).join(" "),
        },
      });
    }
    throw new UsageError(
      "Restore litestream backups onto a server (--target ENV): listing and fetching them here is not supported",
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  }
}

async function run(tool: Tool, args: string[], cwd?: string): Promise<ProcessResult> {
  try {
    return await runProcess(tool.program, args, {
      cwd,
      env: { ...Deno.env.toObject(), ...tool.env },
    });
  } catch (err) {
    if (err instanceof ProgramNotFoundError) {
      throw new UserError(
        `Install ${tool.program} on this machine: restore --list and --target local run it here`,
        { hint: `apt-get install ${tool.program === "borg" ? "borgbackup" : tool.program}` },
      );
    }
    throw err;
  }
}

function failed(what: string, r: ProcessResult): UserError {
  const tail = (r.stderr || r.stdout).trim().split("\n").slice(-6).join("\n");
  return new UserError(`${what} failed with exit code ${r.code}:\n${tail}`);
}

/** A borg command that reads: waits for the lock, then reads without it (never breaks one). */
async function borgRead(tool: Tool, command: string, args: string[], cwd?: string) {
  const r = await run(tool, [command, ...tool.args, "--lock-wait", "10", ...args], cwd);
  if (r.code > 1 && LOCK_ERRORS.some((e) => r.stderr.includes(e))) {
    return await run(tool, [command, ...tool.args, "--bypass-lock", ...args], cwd);
  }
  return r;
}

export async function listLocal(source: BackupSource): Promise<BackupEntry[]> {
  return await withCredentials(source, async (tool) => {
    if (source.backend === "rclone") {
      const target = source.settings.target as string;
      const dirs = await run(tool, [...tool.args, "lsf", "--dirs-only", target]);
      if (dirs.code !== 0) {
        if (/not found/i.test(dirs.stderr)) return [];
        throw failed(`rclone lsf ${target}`, dirs);
      }
      const manifests = await run(tool, [
        ...tool.args,
        ...["lsf", "-R", "--max-depth", "2", "--files-only", "--include", "/*/manifest.json"],
        target,
      ]);
      if (manifests.code !== 0) throw failed(`rclone lsf ${target}`, manifests);
      const complete = new Set(
        manifests.stdout.split("\n").filter(Boolean).map((l) => l.split("/")[0]),
      );
      return dirs.stdout.split("\n").map((l) => l.replace(/\/$/, "")).flatMap((name) => {
        const time = stampTime(name);
        return time ? [{ name, time, complete: complete.has(name) }] : [];
      }).sort((a, b) => textOrder(a.time, b.time));
    }
    const prefix = source.settings.archive_prefix as string;
    const r = await borgRead(tool, "list", [
      "--json",
      "--glob-archives",
      `${prefix}*`,
      source.settings.repository as string,
    ]);
    if (r.code > 1) throw failed("borg list", r);
    const archives = (JSON.parse(r.stdout) as { archives: { name: string }[] }).archives;
    return archives.flatMap((a) => {
      const time = stampTime(a.name.slice(prefix.length));
      return time ? [{ name: a.name, time, complete: true }] : [];
    }).sort((a, b) => textOrder(a.time, b.time));
  });
}

/** PRAGMA integrity_check of a database file: "ok" or what it found. */
export function integrityCheck(path: string): string {
  const db = new (nodeSqlite().DatabaseSync)(path, { readOnly: true });
  try {
    const rows = db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join("; ");
  } finally {
    db.close();
  }
}

/** Fetches one backup into `out` (which must not exist or be empty) and checks its databases. */
export async function fetchLocal(
  source: BackupSource,
  name: string,
  out: string,
  opts: { dbOnly: boolean },
): Promise<Manifest> {
  await Deno.mkdir(out, { recursive: true });
  for await (const _ of Deno.readDir(out)) {
    throw new UsageError(`Choose an empty folder for --output: ${out} is not empty`);
  }
  await withCredentials(source, async (tool) => {
    if (source.backend === "rclone") {
      const args = [...tool.args, "copy", "--links", `${source.settings.target}/${name}`, out];
      if (opts.dbOnly) args.push("--include", "/db/**", "--include", "/manifest.json");
      const r = await run(tool, args);
      if (r.code !== 0) throw failed(`rclone copy ${name}`, r);
      return;
    }
    const r = await borgRead(
      tool,
      "extract",
      [`${source.settings.repository}::${name}`, ...(opts.dbOnly ? ["db", "manifest.json"] : [])],
      out,
    );
    if (r.code > 1) throw failed(`borg extract ${name}`, r);
  });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
  } catch {
    throw new UserError(`Backup ${name} has no manifest.json: it is not a complete djaploy backup`);
  }
  for (const db of manifest.databases) {
    const result = integrityCheck(join(out, "db", db.name));
    if (result !== "ok") {
      throw new UserError(`Database ${db.name} of backup ${name} is damaged: ${result}`);
    }
  }
  return manifest;
}
