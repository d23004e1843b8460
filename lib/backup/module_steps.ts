/**
 * What the rclone and borg modules share: the backup program, its settings,
 * credentials in root's 0600 files, and a systemd timer that runs it on
 * schedule as the app's user, the settings and credentials handed over by
 * systemd (LoadCredential=). Each is written only when its content differs
 * (putFile against facts).
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig } from "../config/types.ts";
import type { Layout } from "../host/layout.ts";
import {
  defineModule,
  type ModuleDefinition,
  type Step,
  type StepContext,
} from "../engine/module_api.ts";
import { unitsProbe } from "../host/probes.ts";
import { type FileSpec, putFile } from "../host/remote_ops.ts";
import { BACKUP_PY } from "../../templates/backup_py.ts";
import { backupService, backupTimer } from "../../templates/backup_units.ts";
import { backupConfinement } from "../host/confinement.ts";
import { cronToOnCalendar } from "./cron.ts";
import { describeBackup } from "./databases.ts";
import {
  BACKUP_PY_PATH,
  type BackupBackend,
  backupLayout,
  PYTHON,
  serverSettings,
} from "./layout.ts";

/** What a backup module built with `backupModule` declares. */
export interface BackupModuleOptions {
  /** The backend, also the module's name. */
  readonly backend: BackupBackend;
  /** The module's description. */
  readonly description: string;
  /** Debian packages the backend needs. */
  readonly packages: readonly string[];
  /** Throws a ConfigError when the host's table lacks what the module needs. */
  readonly validate: (host: HostConfig) => void;
  /** The credential files, secrets resolved. */
  readonly credentials: (ctx: StepContext) => Promise<FileSpec[]>;
  /** Files besides program, settings and units whose hashes the steps compare. */
  readonly files: (host: HostConfig, layout: Layout) => string[];
  /** Root's files the job reads besides its settings (credentials), handed over by systemd. */
  readonly jobCredentials: (host: HostConfig, layout: Layout) => string[];
  /** Steps after the settings are written (borg: create the repository). */
  readonly more?: readonly Step[];
}

function timerProbe(host: HostConfig, layout: Layout, backend: BackupBackend) {
  const b = backupLayout(host, layout, backend);
  return unitsProbe([b.timerName], `units:${b.timerName}`);
}

/**
 * What the job reads, as systemd credentials: each file by its name (which
 * backup.py looks up in $CREDENTIALS_DIRECTORY), the settings first.
 */
export function jobCredentials(
  o: Pick<BackupModuleOptions, "backend" | "jobCredentials">,
  host: HostConfig,
  layout: Layout,
): { name: string; path: string }[] {
  const b = backupLayout(host, layout, o.backend);
  return [b.settingsFile, ...o.jobCredentials(host, layout)].map((path) => ({
    name: remotePath.basename(path),
    path,
  }));
}

function schedule(host: HostConfig, backend: BackupBackend): string {
  return backend === "rclone" ? host.rclone.schedule : host.borg.schedule;
}

/**
 * Installs backup.py (root's, 0755) in a folder root owns that the app's
 * user can enter: the job runs it as that user.
 */
export async function putProgram(ctx: StepContext): Promise<void> {
  if (await putFile(ctx, { path: BACKUP_PY_PATH, content: BACKUP_PY, mode: "0755" })) {
    await ctx.exec.run({ argv: ["chmod", "0755", remotePath.dirname(BACKUP_PY_PATH)], as: "root" });
  }
}

/** A scheduled backup module: the backup program, credentials, settings and a systemd timer. */
export function backupModule(o: BackupModuleOptions): ModuleDefinition {
  const program: Step = {
    name: "backup program",
    run: putProgram,
  };
  const credentials: Step = {
    name: `${o.backend} credentials`,
    async run(ctx) {
      for (const spec of await o.credentials(ctx)) await putFile(ctx, spec);
    },
  };
  const settings: Step = {
    name: `${o.backend} settings`,
    async run(ctx) {
      const b = backupLayout(ctx.host, ctx.layout, o.backend);
      const json = serverSettings(ctx.host, ctx.env.name, o.backend, ctx.layout);
      ctx.log.info(describeBackup(ctx.host, ctx.layout, o.backend));
      await putFile(ctx, {
        path: b.settingsFile,
        content: JSON.stringify(json, null, 1) + "\n",
        mode: "0600",
      });
    },
  };
  const timer: Step = {
    name: `${o.backend} timer`,
    async run(ctx) {
      const b = backupLayout(ctx.host, ctx.layout, o.backend);
      const cron = schedule(ctx.host, o.backend);
      const data = {
        appName: ctx.host.app_name,
        backend: o.backend,
        exec: [PYTHON, BACKUP_PY_PATH, "run", remotePath.basename(b.settingsFile)],
        schedule: cron,
        onCalendar: cronToOnCalendar(cron),
        user: ctx.host.app_user,
        credentials: jobCredentials(o, ctx.host, ctx.layout),
        // The job runs as the app user: its caches are in the app user's home.
        confinement: backupConfinement(ctx.host, ctx.layout, {
          backend: o.backend,
          stagingDir: b.stagingDir,
          userHome: ctx.layout.homeDir,
        }),
      };
      const wroteService = await putFile(ctx, {
        path: b.servicePath,
        content: backupService(data),
      });
      const wroteTimer = await putFile(ctx, { path: b.timerPath, content: backupTimer(data) });
      if (wroteService || wroteTimer) {
        await ctx.exec.run({ argv: ["systemctl", "daemon-reload"], as: "root" });
      }
      const state = ctx.facts.get(timerProbe(ctx.host, ctx.layout, o.backend)).get(b.timerName);
      if (state?.enabled !== "enabled" || state?.active !== "active") {
        await ctx.exec.run({
          argv: ["systemctl", "enable", "--now", "--quiet", b.timerName],
          as: "root",
        });
        ctx.changed(`${b.timerName} scheduled (${cron})`);
      } else if (wroteTimer) {
        // A running timer computes its next run anew only when restarted.
        await ctx.exec.run({ argv: ["systemctl", "restart", b.timerName], as: "root" });
        ctx.changed(`${b.timerName} rescheduled (${cron})`);
      }
    },
  };
  const steps = [program, credentials, settings, ...(o.more ?? []), timer];
  return defineModule({
    name: o.backend,
    description: o.description,
    packages: () => o.packages,
    facts: (host, layout) => {
      // Checked while the plan is built: a missing setting stops the run before any connection.
      o.validate(host);
      return [timerProbe(host, layout, o.backend)];
    },
    files: (host, layout) => {
      const b = backupLayout(host, layout, o.backend);
      return [BACKUP_PY_PATH, b.settingsFile, b.servicePath, b.timerPath, ...o.files(host, layout)];
    },
    steps: { configure: steps, "deploy:configure": steps },
  });
}
