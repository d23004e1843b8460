/**
 * The app's `[processes]` and `[[schedule]]` on a host: their unit files
 * written for the live release, the ones no longer in the config removed,
 * one daemon-reload for all of it. The strategies call syncProcessUnits
 * where traffic has moved (and in activate and rollback), then restart the
 * processes together with the other `services`. With [notifications], a
 * failed job is announced by `{app}-notify-failure@.service`
 * (templates/job_failure.ts), written here too.
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig, ScheduleEntry } from "../config/types.ts";
import type { FactProbe } from "../host/facts.ts";
import type { Layout } from "../host/layout.ts";
import type { StepContext } from "../engine/module_api.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import { shScript } from "../exec/remote_command.ts";
import { putFile } from "../host/remote_ops.ts";
import { runChain } from "../exec/chain.ts";
import { webConfinement } from "../host/confinement.ts";
import { layoutFor } from "../host/layout.ts";
import { VERSION } from "../version.ts";
import { configSecret } from "../backup/secrets.ts";
import {
  JOB_FAILURE_PY,
  JOB_FAILURE_PY_PATH,
  jobFailureUnit,
  type JobFailureUnitData,
} from "../../templates/job_failure.ts";
import {
  processMarker,
  type ProcessRun,
  processUnit,
  scheduleService,
  scheduleTimer,
} from "../../templates/process_units.ts";
import { PROCESS_UNITS_LIST_SH } from "./programs.gen.ts";

const UNIT_DIR = "/etc/systemd/system";

/** `[processes] worker = ...` runs as `{app}-worker.service`. */
export function processUnitName(host: HostConfig, name: string): string {
  return `${host.app_name}-${name}.service`;
}

/** A scheduled job's service and timer: `{app}-schedule-{name}.service` and `.timer`. */
export function scheduleUnitNames(
  host: HostConfig,
  name: string,
): { service: string; timer: string } {
  const base = `${host.app_name}-schedule-${name}`;
  return { service: `${base}.service`, timer: `${base}.timer` };
}

/** The template unit that announces a failed job: `{app}-notify-failure@.service`. */
export function jobFailureUnitName(host: HostConfig): string {
  return `${host.app_name}-notify-failure@.service`;
}

/** The root-only file (0600) holding the webhook URL the announcement is sent to. */
export function webhookFile(layout: Layout): string {
  return remotePath.join(layout.configDir, "notify-webhook");
}

/**
 * The announcement's settings when failed jobs are announced: the project
 * has [notifications] with a webhook_url and notify_on_failure, and the host
 * has scheduled jobs. Undefined otherwise.
 */
export function jobFailureNotifier(
  ctx: Pick<StepContext, "host" | "layout" | "project" | "env">,
): JobFailureUnitData | undefined {
  const n = ctx.project.notifications;
  if (!n?.webhook_url || !n.notify_on_failure || ctx.host.schedule.length === 0) return undefined;
  return {
    appName: ctx.host.app_name,
    displayName: n.display_name,
    environment: ctx.env.name,
    host: ctx.host.name,
    kind: n.kind,
    timeout: n.timeout,
    webhookFile: webhookFile(ctx.layout),
    version: VERSION,
  };
}

/** The process units of the config, in its order. */
export function processUnits(host: HostConfig): string[] {
  return Object.keys(host.processes).map((n) => processUnitName(host, n));
}

/** Every unit file the config's processes and schedule need. */
export function processUnitFiles(host: HostConfig): string[] {
  return [
    ...[
      ...processUnits(host),
      ...host.schedule.flatMap((e) => Object.values(scheduleUnitNames(host, e.name))),
      jobFailureUnitName(host),
    ].map((u) => remotePath.join(UNIT_DIR, u)),
    // Whether failed jobs are announced is the project's [notifications]: hashed either way.
    webhookFile(layoutFor(host)),
    JOB_FAILURE_PY_PATH,
  ];
}

/** The unit files on the host that djaploy wrote for the app's processes and schedule. */
export function processUnitsProbe(host: HostConfig): FactProbe<string[]> {
  return {
    name: "process-units",
    argv: shScript(
      PROCESS_UNITS_LIST_SH,
      UNIT_DIR,
      host.app_name,
      processMarker(host.app_name),
    ),
    parse: (out) => out.split("\n").map((l) => l.trim()).filter(Boolean),
  };
}

/** Where the processes run: manage.py's folder of the live release, and its virtualenv. */
export interface ProcessTarget {
  /** The folder manage.py is in. */
  readonly manageDir: string;
  /** The virtualenv the processes run with. */
  readonly venv: string;
}

interface WantedUnit {
  readonly unit: string;
  readonly content: string;
  readonly kind: "process" | "job" | "timer" | "notifier";
}

export function wantedUnits(
  host: HostConfig,
  layout: Layout,
  live: ProcessTarget,
  notifier?: JobFailureUnitData,
): WantedUnit[] {
  const run: ProcessRun = {
    appName: host.app_name,
    appUser: host.app_user,
    workingDirectory: live.manageDir,
    envFile: layout.envFile,
    venv: live.venv,
    confinement: webConfinement(host, layout),
  };
  const out: WantedUnit[] = Object.entries(host.processes).map(([name, command]) => ({
    unit: processUnitName(host, name),
    content: processUnit({ ...run, name, command }),
    kind: "process",
  }));
  for (const e of host.schedule) {
    const { service, timer } = scheduleUnitNames(host, e.name);
    out.push({
      unit: service,
      content: scheduleService({
        ...run,
        name: e.name,
        run: scheduled(e, layout),
        // %n: the job's own unit, the notifier's instance.
        onFailure: notifier ? jobFailureUnitName(host).replace("@.", "@%n.") : undefined,
      }),
      kind: "job",
    });
    out.push({
      unit: timer,
      content: scheduleTimer({
        appName: host.app_name,
        name: e.name,
        unit: service,
        onCalendar: e.on_calendar,
      }),
      kind: "timer",
    });
  }
  if (notifier) {
    out.push({
      unit: jobFailureUnitName(host),
      content: jobFailureUnit(notifier),
      kind: "notifier",
    });
  }
  return out;
}

function scheduled(e: ScheduleEntry, layout: Layout) {
  return "shell" in e ? { shell: e.shell } : { manage: e.manage, manageFile: layout.manageFile };
}

/** What syncProcessUnits did: the process units whose file changed, and all of them. */
export interface ProcessSync {
  /** Process units whose file changed. */
  readonly changed: readonly string[];
  /** Every process unit of the app. */
  readonly all: readonly string[];
}

/**
 * Writes the processes' and scheduled jobs' units for `live`, stops,
 * disables and deletes the ones no longer configured, reloads systemd once,
 * enables new units and (re)starts changed timers, in one round trip after
 * the writes. Starting the processes is the caller's: it restarts them with
 * the other services.
 */
export async function syncProcessUnits(
  ctx: StepContext,
  live: ProcessTarget,
): Promise<ProcessSync> {
  const notifier = jobFailureNotifier(ctx);
  const cmds: RemoteCommand[] = [];
  if (notifier) {
    // Before the units that name them: the URL (root's alone; systemd hands it to the
    // notifier) and the program.
    const url = await configSecret(
      ctx,
      ctx.project.notifications!.webhook_url!,
      "notifications.webhook_url",
    );
    await putFile(ctx, { path: notifier.webhookFile, content: url, mode: "0600" });
    if (await putFile(ctx, { path: JOB_FAILURE_PY_PATH, content: JOB_FAILURE_PY })) {
      // putFile makes a missing folder 0700: the notifier's dynamic user must reach the program.
      cmds.push({ argv: ["chmod", "0755", remotePath.dirname(JOB_FAILURE_PY_PATH)], as: "root" });
    }
  } else if (ctx.facts.fileHash(webhookFile(ctx.layout)) !== undefined) {
    cmds.push({ argv: ["rm", "-f", "--", webhookFile(ctx.layout)], as: "root" });
    ctx.facts.setFileHash(webhookFile(ctx.layout), undefined);
    ctx.changed(`removed ${webhookFile(ctx.layout)}`);
  }
  const wanted = wantedUnits(ctx.host, ctx.layout, live, notifier);
  const written: WantedUnit[] = [];
  for (const w of wanted) {
    if (await putFile(ctx, { path: remotePath.join(UNIT_DIR, w.unit), content: w.content })) {
      written.push(w);
    }
  }
  const names = new Set(wanted.map((w) => w.unit));
  const stale = ctx.facts.get(processUnitsProbe(ctx.host)).filter((u) => !names.has(u));
  // A template (the notifier) is never enabled nor started by its own name.
  const running = stale.filter((u) => !u.includes("@."));
  if (stale.length) {
    // 1, 5: already stopped or unknown to systemd.
    if (running.length) {
      cmds.push({
        argv: ["systemctl", "disable", "--now", "--quiet", "--", ...running],
        as: "root",
        okCodes: [0, 1, 5],
      });
    }
    cmds.push({
      argv: ["rm", "-f", "--", ...stale.map((u) => remotePath.join(UNIT_DIR, u))],
      as: "root",
    });
    ctx.changed(`removed ${stale.join(", ")}`);
  }
  if (written.length || stale.length) {
    cmds.push({ argv: ["systemctl", "daemon-reload"], as: "root" });
  }
  // A job's service has no [Install]: its timer starts it.
  const enable = written.filter((w) => w.kind !== "job" && w.kind !== "notifier").map((w) =>
    w.unit
  );
  if (enable.length) {
    cmds.push({ argv: ["systemctl", "enable", "--quiet", "--", ...enable], as: "root" });
  }
  const timers = written.filter((w) => w.kind === "timer").map((w) => w.unit);
  if (timers.length) cmds.push({ argv: ["systemctl", "restart", "--", ...timers], as: "root" });
  // All root's: the shell that holds the lock runs them.
  if (cmds.length) await runChain(ctx.exec, cmds, { root: true });
  return {
    changed: written.filter((w) => w.kind === "process").map((w) => w.unit),
    all: processUnits(ctx.host),
  };
}

/** A unit's state as `status` shows it (systemctl show's properties, by name). */
export type UnitProps = Readonly<Record<string, string>>;

const STATUS_PROPS = [
  "Id",
  "ActiveState",
  "Result",
  "ExecMainStatus",
  "ExecMainExitTimestamp",
  "NextElapseUSecRealtime",
  "LastTriggerUSec",
];

/** The processes' units, and each scheduled job's service and timer, as systemd has them now. */
export function processStatusProbe(host: HostConfig): FactProbe<Map<string, UnitProps>> {
  const units = [
    ...processUnits(host),
    ...host.schedule.flatMap((e) => Object.values(scheduleUnitNames(host, e.name))),
  ];
  return {
    name: "process-status",
    argv: units.length
      ? ["systemctl", "show", `--property=${STATUS_PROPS.join(",")}`, "--", ...units]
      : ["true"],
    parse: (out) => {
      const map = new Map<string, UnitProps>();
      for (const block of out.split(/\n\s*\n/)) {
        const props: Record<string, string> = {};
        for (const line of block.split("\n")) {
          const eq = line.indexOf("=");
          if (eq > 0) props[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
        }
        if (props.Id) map.set(props.Id, props);
      }
      return map;
    },
  };
}

/** One scheduled job in `status`: its last run's outcome and its next. */
export interface JobStatus {
  readonly unit: string;
  readonly on_calendar: string;
  /** "never run", "running", "succeeded" or "failed". */
  readonly last: string;
  /** systemd's Result= of the last run when it failed (exit-code, signal, timeout, ...). */
  readonly result?: string;
  readonly exit_status?: string;
  readonly last_run?: string;
  readonly next_run?: string;
}

export function jobStatus(
  host: HostConfig,
  e: ScheduleEntry,
  units: ReadonlyMap<string, UnitProps>,
): JobStatus {
  const { service, timer } = scheduleUnitNames(host, e.name);
  const s = units.get(service) ?? {};
  const t = units.get(timer) ?? {};
  const ran = !!s.ExecMainExitTimestamp;
  const failed = s.ActiveState === "failed" || (s.Result !== undefined && s.Result !== "success");
  const last = s.ActiveState === "activating" || s.ActiveState === "active"
    ? "running"
    : failed
    ? "failed"
    : ran
    ? "succeeded"
    : "never run";
  return {
    unit: service,
    on_calendar: e.on_calendar,
    last,
    ...(failed ? { result: s.Result, exit_status: s.ExecMainStatus } : {}),
    ...(ran ? { last_run: s.ExecMainExitTimestamp } : {}),
    ...(t.NextElapseUSecRealtime ? { next_run: t.NextElapseUSecRealtime } : {}),
  };
}
