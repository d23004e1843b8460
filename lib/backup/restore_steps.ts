/**
 * `restore` on the servers of the target environment: the backup program,
 * as the app's user, fetches the chosen backup into the app's state folder
 * and checks every database (PRAGMA integrity_check) while the app still
 * runs; root stops the app's running units; the app's user puts databases
 * and files in place (paths of the target's own layout and strategy); root
 * starts the units again, also when putting in place failed. Root never
 * moves or chowns anything in the app's folders. Credentials reach the
 * program on stdin; borg's known_hosts is root's pinned file, read by root.
 */
import type { HostConfig } from "../config/types.ts";
import type { HostPlan } from "../engine/runner.ts";
import { note, type Step, type StepContext } from "../engine/module_api.ts";
import { userProbe } from "../host/probes.ts";
import { strategyTraits } from "../strategies/traits.ts";
import { putProgram } from "./module_steps.ts";
import { shScript } from "../exec/remote_command.ts";
import { UserError } from "../errors.ts";
import { BACKUP_PY_PATH, backupLayout, borgBaseDir, PYTHON, restoreDir } from "./layout.ts";
import { type BackupEntry, chooseBackup } from "./choose.ts";
import { type BackupSource, requestWithSecrets } from "./source.ts";
import { LITESTREAM_UNIT } from "./litestream.ts";
import { pinHostKey } from "./borg.ts";
import { backupDatabases, DatabaseSettingError } from "./databases.ts";
import { layoutFor } from "../host/layout.ts";

export interface RestoreOptions {
  readonly source: BackupSource;
  readonly date?: Date;
  /** A backup's name (`--archive`), as --list shows it. */
  readonly archive?: string;
  readonly dbOnly: boolean;
  /** `--database`: only these databases of the backup, by the name --list shows (implies dbOnly). */
  readonly databases?: readonly string[];
}

/**
 * The names of the databases the target host's configuration says its app
 * uses (rclone.databases / borg.databases, else [env]), as a backup names
 * them; undefined when it does not say (every SQLite file of the data folder,
 * litestream's own list, a setting the backup check refuses).
 */
export function expectedDatabases(
  host: HostConfig,
  backend: BackupSource["backend"],
): { names: string[]; from: string } | undefined {
  if (backend === "litestream") return undefined;
  try {
    const plan = backupDatabases(host, layoutFor(host), backend);
    return plan.scan ? undefined : { names: plan.databases.map((d) => d.name), from: plan.from };
  } catch (e) {
    if (e instanceof DatabaseSettingError) return undefined;
    throw e;
  }
}

const TOOLS: Readonly<Record<string, { program: string; pkg?: string }>> = {
  rclone: { program: "rclone", pkg: "rclone" },
  borg: { program: "borg", pkg: "borgbackup" },
  litestream: { program: "litestream" },
};

/**
 * The units that use the app's data on a host of this strategy: stopped
 * while it is replaced (only those running; they are started again after).
 */
export function restoreUnits(host: HostConfig): string[] {
  const app = host.app_name;
  const inPlace = !strategyTraits(host).hasSlots;
  const web = inPlace ? [] : [`${app}.service`, `${app}-blue.service`, `${app}-green.service`];
  const services = inPlace
    ? host.services
    : host.services.filter((s) => s !== app && s !== `${app}.service`);
  const litestream = host.modules.some((m) => m.spec === "litestream") ? [LITESTREAM_UNIT] : [];
  return [...web, ...services.map((s) => (s.includes(".") ? s : `${s}.service`)), ...litestream];
}

/** The last line backup.py prints: `@@djaploy-restore {json}`. */
export function parseRestoreResult(stdout: string): {
  ok: boolean;
  databases?: string[];
  files?: string[];
} | undefined {
  const line = stdout.split("\n").reverse().find((l) => l.startsWith("@@djaploy-restore "));
  return line ? JSON.parse(line.slice("@@djaploy-restore ".length)) : undefined;
}

const tools: (o: RestoreOptions) => Step = (o) => ({
  name: "backup tools",
  async run(ctx) {
    if (!ctx.facts.get(userProbe(ctx.host.app_user))) {
      throw new UserError(
        `Prepare ${ctx.host.name} first: the app's user ${ctx.host.app_user} does not exist there`,
        { hint: `djaploy configure --env ${ctx.env.name} && djaploy deploy --env ${ctx.env.name}` },
      );
    }
    const tool = TOOLS[o.source.backend];
    const r = await ctx.exec.run({
      argv: shScript('command -v "$1" >/dev/null || echo missing', tool.program),
      as: "root",
      readOnly: true,
    });
    if (r.stdout.includes("missing")) {
      if (!tool.pkg) {
        throw new UserError(
          `Install ${tool.program} on ${ctx.host.name}: add the ${o.source.backend} module to its modules and run djaploy configure`,
        );
      }
      await ctx.exec.run({ argv: ["apt-get", "update", "-qq"], as: "root" });
      await ctx.exec.run({
        argv: ["apt-get", "install", "-y", "-qq", "--no-install-recommends", tool.pkg],
        as: "root",
        env: { DEBIAN_FRONTEND: "noninteractive" },
      });
      ctx.changed(`installed ${tool.pkg}`);
    }
    await putProgram(ctx);
  },
});

/** Provided by "choose backup": the backup (borg archive, or a litestream time) "restore data" restores. */
const BACKUP = note<string>("restore backup");
/** Provided by "choose backup" for borg: what backup.py needs besides the source (borgTarget). */
const BORG_TARGET = note<Record<string, unknown>>("restore borg target");

/**
 * What backup.py needs besides the source on a target host: borg's
 * known_hosts (root's pinned file, the source repository's host added the
 * first time) and the app user's BORG_BASE_DIR.
 */
export async function borgTarget(
  ctx: Pick<StepContext, "exec" | "host" | "layout">,
  source: BackupSource,
): Promise<Record<string, unknown>> {
  if (source.backend !== "borg") return {};
  const knownHosts = await pinHostKey(ctx, {
    repository: source.settings.repository as string,
    knownHosts: backupLayout(ctx.host, ctx.layout, "borg").borgKnownHosts,
  });
  return { known_hosts: knownHosts, borg_base_dir: borgBaseDir(ctx.layout) };
}

const choose: (o: RestoreOptions) => Step = (o) => ({
  name: "choose backup",
  async run(ctx) {
    if (o.source.backend === "litestream") {
      ctx.shared.set(BACKUP, o.date ? o.date.toISOString() : "latest");
      return;
    }
    const borg = await borgTarget(ctx, o.source);
    ctx.shared.set(BORG_TARGET, borg);
    const r = await ctx.exec.run({
      argv: [PYTHON, BACKUP_PY_PATH, "list"],
      as: ctx.host.app_user,
      stdin: requestWithSecrets(o.source, borg),
      readOnly: true,
    });
    const backups = JSON.parse(r.stdout.trim().split("\n").pop() || "[]") as BackupEntry[];
    const chosen = chooseBackup(backups, {
      date: o.date,
      archive: o.archive,
      source: o.source.label,
    });
    ctx.shared.set(BACKUP, chosen.name);
    ctx.log.info(`${chosen.name} of ${o.source.label}`);
  },
});

/** The units of `units` that run now (read-only). */
async function activeUnits(ctx: StepContext, units: readonly string[]): Promise<string[]> {
  if (units.length === 0) return [];
  const r = await ctx.exec.run({
    argv: shScript('for u; do systemctl is-active --quiet "$u" && echo "$u"; done; true', ...units),
    as: "root",
    readOnly: true,
  });
  const active = new Set(r.stdout.split("\n").map((l) => l.trim()));
  return units.filter((u) => active.has(u));
}

const restore: (o: RestoreOptions) => Step = (o) => ({
  name: "restore data",
  async run(ctx: StepContext) {
    const backup = ctx.shared.need(BACKUP);
    const expected = expectedDatabases(ctx.host, o.source.backend);
    const request = {
      backup,
      db_only: o.dbOnly || (o.databases?.length ?? 0) > 0,
      databases: o.databases?.length ? o.databases : null,
      expected: expected?.names ?? null,
      expected_from: expected?.from ?? null,
      expected_key: `${o.source.backend}.databases`,
      timestamp: o.source.backend === "litestream" && o.date ? o.date.toISOString() : null,
      target: {
        home_dir: ctx.layout.homeDir,
        data_dir: ctx.layout.dataDir,
        media_dir: ctx.layout.mediaRoot,
        shared_dir: ctx.layout.sharedDir,
        staging_dir: restoreDir(ctx.layout),
      },
    };
    const asApp = ctx.host.app_user;
    const borg = ctx.shared.get(BORG_TARGET) ??
      await borgTarget(ctx, o.source);
    // The app still runs while the backup is fetched and checked.
    const fetched = await ctx.exec.run({
      argv: [PYTHON, BACKUP_PY_PATH, "fetch"],
      as: asApp,
      stdin: requestWithSecrets(o.source, { ...request, ...borg }),
    });
    for (const line of fetched.stdout.split("\n")) if (line.trim()) ctx.log.debug(line);

    const stopped: string[] = [];
    let output: string | undefined;
    let error: unknown;
    try {
      for (const unit of await activeUnits(ctx, restoreUnits(ctx.host))) {
        await ctx.exec.run({ argv: ["systemctl", "stop", unit], as: "root" });
        stopped.push(unit);
      }
      output = (await ctx.exec.run({
        argv: [PYTHON, BACKUP_PY_PATH, "apply"],
        as: asApp,
        stdin: JSON.stringify(request),
      })).stdout;
    } catch (err) {
      error = err;
      await ctx.exec.run({
        argv: [PYTHON, BACKUP_PY_PATH, "discard"],
        as: asApp,
        stdin: JSON.stringify(request),
      }).catch(() => undefined);
    }
    // Started again also when putting in place failed.
    const failed: string[] = [];
    for (const unit of stopped) {
      await ctx.exec.run({ argv: ["systemctl", "start", unit], as: "root" })
        .catch(() => failed.push(unit));
    }
    if (error !== undefined) throw error;
    if (failed.length > 0) {
      throw new UserError(
        `Start ${failed.join(", ")} on ${ctx.host.name}: the data was restored, but ${
          failed.length === 1 ? "it" : "they"
        } did not start again`,
        { hint: `systemctl status ${failed.join(" ")}` },
      );
    }
    output ??= "";
    for (const line of output.split("\n")) {
      if (line.trim() && !line.startsWith("@@djaploy-restore")) ctx.log.debug(line);
    }
    const result = parseRestoreResult(output);
    if (!result) return;
    const what = [
      `${result.databases?.length ?? 0} database${result.databases?.length === 1 ? "" : "s"}`,
      ...(result.files ?? []),
    ].join(", ");
    ctx.changed(`restored ${what} from ${backup}`);
    if (stopped.length) ctx.changed(`stopped and started ${stopped.join(", ")}`);
  },
});

/** The plan of `restore` on one target host. */
export function restorePlan(host: HostConfig, o: RestoreOptions): HostPlan {
  return {
    probes: [userProbe(host.app_user)],
    files: [BACKUP_PY_PATH],
    packages: [],
    steps: [tools(o), choose(o), restore(o)],
  };
}
