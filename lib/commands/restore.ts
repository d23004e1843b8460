/**
 * `djaploy restore`: the SQLite databases and media files of an environment,
 * from its rclone, borg or litestream backups, into the same environment,
 * another one (production into staging), or onto this machine.
 */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import { loadConfig, openSession, requireEnv } from "../engine/session.ts";
import { loadEnvironment } from "../config/load.ts";
import type { Ui } from "../output/ui.ts";
import { table } from "../output/ui.ts";
import { commandHooks, COMMON_FLAGS, HOST_FLAGS, runExitCode, runPlan } from "./common.ts";
import { UsageError } from "../errors.ts";
import { SecretResolver } from "../secrets/resolve.ts";
import { join, resolve } from "../paths.ts";
import { type BackupEntry, chooseBackup, parseDateFlag } from "../backup/choose.ts";
import { backupSource, pickBackend, pickSourceHost, requestWithSecrets } from "../backup/source.ts";
import { fetchLocal, listLocal } from "../backup/local.ts";
import { restorePlan } from "../backup/restore_steps.ts";
import { BACKUP_PY_PATH, PYTHON } from "../backup/layout.ts";
import type { Flags } from "../cli/args.ts";

export const restoreCommand = {
  name: "restore",
  summary: "Restore databases and media files from backups: into an environment or onto this " +
    "machine. rclone, borg or litestream; the app's services are stopped meanwhile.",
  flags: [
    ...HOST_FLAGS.map((f) =>
      f.name === "env"
        ? { ...f, description: "The environment whose backups to read (the source)" }
        : f.name === "hosts"
        ? { ...f, description: "Only these hosts of the target environment" }
        : f
    ),
    {
      name: "target",
      type: "string",
      valueName: "ENV|local",
      description: "Where to restore: an environment (default: the source) or local (this machine)",
    },
    {
      name: "backend",
      type: "string",
      valueName: "NAME",
      description: "rclone, borg or litestream (default: the one the source uses)",
    },
    {
      name: "date",
      type: "string",
      valueName: "D",
      description: "The last backup at or before D (2025-01-31 is the end of that day, UTC)",
    },
    {
      name: "archive",
      type: "string",
      valueName: "NAME",
      description: "This backup, by the name --list shows (default: the latest)",
    },
    { name: "db-only", type: "boolean", description: "Restore the databases, not the media files" },
    {
      name: "database",
      type: "string",
      valueName: "NAME[,NAME]",
      description: "Only these databases of the backup, by their file names in it " +
        "(hello.sqlite3, analytics.sqlite3); implies --db-only",
    },
    { name: "list", type: "boolean", description: "List the backups and change nothing" },
    {
      name: "output",
      type: "string",
      valueName: "DIR",
      description: "--target local: an empty folder (default: ./restore-<env>-<backup>)",
    },
    {
      name: "from-host",
      type: "string",
      valueName: "NAME",
      description: "The source host whose backups to read (default: the first with the module)",
    },
    { name: "yes", short: "y", type: "boolean", description: "Do not ask before replacing data" },
    ...COMMON_FLAGS,
  ],
} as const satisfies CommandDef;

function printBackups(ui: Ui, label: string, backups: readonly BackupEntry[]): void {
  ui.result(ui.bold(label));
  if (backups.length === 0) {
    ui.result("  no backups");
    return;
  }
  const rows = [["backup", "time (UTC)", "state"]];
  for (const b of backups) {
    rows.push([
      b.name,
      b.time.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, ""),
      b.complete ? "complete" : "unfinished",
    ]);
  }
  for (const line of table(rows)) ui.result(`  ${line}`);
}

export async function restore(ui: Ui, args: ParsedFor<typeof restoreCommand>): Promise<number> {
  const flags = args.flags;
  const project = await loadConfig(flags);
  const sourceName = requireEnv(flags, "restore");
  if (flags.date !== undefined && flags.archive !== undefined) {
    throw new UsageError("Choose one of --date and --archive");
  }
  const date = flags.date === undefined ? undefined : parseDateFlag(String(flags.date));
  const archive = flags.archive;
  const sourceEnv = await loadEnvironment(project, sourceName);
  const backend = pickBackend(sourceEnv, flags.backend);
  const sourceHost = pickSourceHost(sourceEnv, backend, flags["from-host"]);
  const target = flags.target ?? sourceName;
  const local = target === "local";
  if (flags.output !== undefined && !local) {
    throw new UsageError("--output is for --target local");
  }
  const databases = flags.database === undefined
    ? undefined
    : String(flags.database).split(",").map((d) => d.trim());
  if (databases?.some((d) => d === "")) {
    throw new UsageError(
      `Give --database the file names of databases in the backup, separated by commas (--list ` +
        `shows the backups): got "${flags.database}"`,
    );
  }
  if (databases && local) {
    throw new UsageError(
      "Drop --database with --target local: it fetches every database of the backup into a folder of its own",
    );
  }

  // Listing and restoring onto this machine read the backups from here.
  const localSource = () =>
    backupSource({
      project,
      env: sourceEnv,
      backend,
      host: sourceHost,
      secrets: new SecretResolver({ onSecret: (v) => ui.addSecret(v), baseDir: project.repo_dir }),
    });
  if (flags.list && backend !== "litestream") {
    const source = await localSource();
    printBackups(ui, source.label, await listLocal(source));
    return 0;
  }
  if (local) {
    const source = await localSource();
    const chosen = chooseBackup(await listLocal(source), { date, archive, source: source.label });
    const out = resolve(
      Deno.cwd(),
      flags.output ?? `restore-${sourceName}-${chosen.name}`,
    );
    ui.line(`fetching ${chosen.name} of ${source.label} into ${out}`);
    const manifest = await fetchLocal(source, chosen.name, out, {
      dbOnly: Boolean(flags["db-only"]),
    });
    for (const db of manifest.databases) {
      ui.result(`database ${join(out, "db", db.name)} (integrity ok)`);
    }
    if (!flags["db-only"]) {
      for (const f of manifest.files) ui.result(`files    ${join(out, f)}`);
    }
    ui.result(`restored ${chosen.name} (${chosen.time}) into ${out}`);
    return 0;
  }

  const targetFlags: Flags = { ...flags, env: target };
  const s = await openSession(ui, targetFlags, "restore");
  try {
    const source = await backupSource({
      project,
      env: sourceEnv,
      backend,
      host: sourceHost,
      secrets: s.secrets,
    });
    if (flags.list) {
      // litestream: its own listing, read on the target's first host.
      const exec = s.executor(s.hosts[0], 0);
      const r = await exec.run({
        argv: [PYTHON, BACKUP_PY_PATH, "list"],
        as: s.hosts[0].app_user,
        stdin: requestWithSecrets(source, {}),
        readOnly: true,
      });
      printBackups(ui, source.label, JSON.parse(r.stdout.trim().split("\n").pop() || "[]"));
      return 0;
    }
    const hosts = s.hosts.map((h) => h.name).join(", ");
    const what = `${
      archive ?? (date ? `the last backup before ${date.toISOString()}` : "the latest backup")
    } of ${source.label}`;
    if (!flags.yes) {
      if (!Deno.stdin.isTerminal()) {
        throw new UsageError(
          `Add --yes to restore without a terminal to confirm on: the data of ${target} (${hosts}) would be replaced`,
        );
      }
      if (!confirm(`Replace the data of ${target} (${hosts}) with ${what}?`)) return 1;
    }
    const hooks = commandHooks(s, "restore");
    const results = await runPlan(s, {
      title: `restore ${target} from ${source.label}`,
      hooks,
      plan: (host) =>
        Promise.resolve(
          restorePlan(host, {
            source,
            date,
            archive,
            dbOnly: Boolean(flags["db-only"]),
            databases,
          }),
        ),
      lock: true,
      commandLine: `djaploy restore --env ${sourceName} --target ${target}`,
    });
    return runExitCode(results, hooks);
  } finally {
    await s.close();
  }
}
