/**
 * `restore` on the servers of the target environment: the backup program
 * fetches the chosen backup and checks every database (PRAGMA
 * integrity_check) while the app still runs, then stops the app's running
 * units, puts databases and files in place (paths of the target's own
 * layout and strategy), and starts the units again, also when putting in
 * place failed. Credentials reach it on stdin.
 */
import type { HostConfig } from "../config/types.ts";
import type { HostPlan } from "../runner.ts";
import type { Step, StepContext } from "../module.ts";
import { userProbe } from "../probes.ts";
import { putFile } from "../remote_ops.ts";
import { shScript } from "../remote_command.ts";
import { UserError } from "../errors.ts";
import { BACKUP_PY } from "../../templates/backup_py.ts";
import { BACKUP_PY_PATH, PYTHON, restoreDir } from "./layout.ts";
import { type BackupEntry, chooseBackup } from "./choose.ts";
import { type BackupSource, requestWithSecrets } from "./source.ts";
import { LITESTREAM_UNIT } from "../../modules/litestream/mod.ts";

export interface RestoreOptions {
  readonly source: BackupSource;
  readonly date?: Date;
  /** A backup's name (`--archive`), as --list shows it. */
  readonly archive?: string;
  readonly dbOnly: boolean;
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
  const inPlace = host.deployment_strategy === "in_place";
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
  stopped: string[];
  start_failed: string[];
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
    await putFile(ctx, { path: BACKUP_PY_PATH, content: BACKUP_PY, mode: "0755" });
  },
});

const choose: (o: RestoreOptions) => Step = (o) => ({
  name: "choose backup",
  async run(ctx) {
    if (o.source.backend === "litestream") {
      ctx.notes.set("restore:backup", o.date ? o.date.toISOString() : "latest");
      return;
    }
    const r = await ctx.exec.run({
      argv: [PYTHON, BACKUP_PY_PATH, "list"],
      as: "root",
      stdin: requestWithSecrets(o.source, {}),
      readOnly: true,
    });
    const backups = JSON.parse(r.stdout.trim().split("\n").pop() || "[]") as BackupEntry[];
    const chosen = chooseBackup(backups, {
      date: o.date,
      archive: o.archive,
      source: o.source.label,
    });
    ctx.notes.set("restore:backup", chosen.name);
    ctx.log.info(`${chosen.name} of ${o.source.label}`);
  },
});

const restore: (o: RestoreOptions) => Step = (o) => ({
  name: "restore data",
  async run(ctx: StepContext) {
    const backup = ctx.notes.get("restore:backup") as string;
    const request = {
      backup,
      db_only: o.dbOnly,
      timestamp: o.source.backend === "litestream" && o.date ? o.date.toISOString() : null,
      target: {
        app_user: ctx.host.app_user,
        data_dir: ctx.layout.dataDir,
        media_dir: ctx.layout.mediaRoot,
        shared_dir: ctx.layout.sharedDir,
        staging_dir: restoreDir(ctx.layout),
        units: restoreUnits(ctx.host),
      },
    };
    const r = await ctx.exec.run({
      argv: [PYTHON, BACKUP_PY_PATH, "restore"],
      as: "root",
      stdin: requestWithSecrets(o.source, request),
    });
    for (const line of r.stdout.split("\n")) {
      if (line.trim() && !line.startsWith("@@djaploy-restore")) ctx.log.debug(line);
    }
    const result = parseRestoreResult(r.stdout);
    if (!result) return;
    const what = [
      `${result.databases?.length ?? 0} database${result.databases?.length === 1 ? "" : "s"}`,
      ...(result.files ?? []),
    ].join(", ");
    ctx.changed(`restored ${what} from ${backup}`);
    if (result.stopped.length) ctx.changed(`stopped and started ${result.stopped.join(", ")}`);
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
