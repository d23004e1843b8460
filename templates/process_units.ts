/**
 * The units of the app's `[processes]` (long-running workers) and
 * `[[schedule]]` entries (a oneshot service and its timer). Each runs the
 * live release's code as the app user, with the app's environment and its
 * virtualenv's bin first in PATH, confined like the web unit.
 */
import { type Confinement, hardening } from "./hardening.ts";
import { systemdQuote } from "./systemd_unit.ts";

/**
 * The line that marks a unit as one of these for one app: the files that
 * carry it and are no longer in the config are removed (lib/deploy/processes.ts).
 */
export function processMarker(appName: string): string {
  return `# djaploy-managed: processes of ${appName}`;
}

/** Where the unit runs: the live release and its virtualenv. */
export interface ProcessRun {
  readonly appName: string;
  readonly appUser: string;
  /** manage.py's folder in the live code (a link that follows the switch, or a slot's folder). */
  readonly workingDirectory: string;
  readonly envFile: string;
  /** The virtualenv the live release runs with. */
  readonly venv: string;
  readonly confinement: Confinement;
}

const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";

function runLines(d: ProcessRun): string {
  return `User=${d.appUser}
Group=${d.appUser}
WorkingDirectory=${d.workingDirectory}
Environment=${systemdQuote(`PATH=${d.venv}/bin:${SYSTEM_PATH}`)}
Environment=${systemdQuote(`VIRTUAL_ENV=${d.venv}`)}
EnvironmentFile=${d.envFile}`;
}

/** `[processes] NAME = "COMMAND"`: a shell command line, like a Procfile's, kept running. */
export function processUnit(d: ProcessRun & { name: string; command: string }): string {
  return `${processMarker(d.appName)}
[Unit]
Description=${d.appName}: process ${d.name}
After=network.target

[Service]
Type=simple
${runLines(d)}
ExecStart=/bin/sh -c ${systemdQuote(d.command)}
KillMode=mixed
TimeoutStopSec=30
Restart=always
RestartSec=2
${hardening("web", d.confinement)}
[Install]
WantedBy=multi-user.target
`;
}

/** What one `[[schedule]]` entry runs: a manage.py command, or a shell command line. */
export type ScheduledCommand =
  | { readonly manage: readonly string[]; readonly manageFile: string }
  | { readonly shell: string };

/**
 * A scheduled job's service: oneshot, so systemd never starts it again while
 * a run is still going (the timer's trigger, or a `systemctl start`, joins
 * the run in progress instead); its last result stays for `status`.
 */
export function scheduleService(
  d: ProcessRun & {
    name: string;
    run: ScheduledCommand;
    /** The unit systemd starts when a run fails (`OnFailure=`): the announcement. */
    onFailure?: string;
  },
): string {
  const exec = "shell" in d.run
    ? `/bin/sh -c ${systemdQuote(d.run.shell)}`
    : [`${d.venv}/bin/python`, d.run.manageFile, ...d.run.manage].map(systemdQuote).join(" ");
  return `${processMarker(d.appName)}
[Unit]
Description=${d.appName}: scheduled job ${d.name}
${d.onFailure ? `OnFailure=${d.onFailure}\n` : ""}
[Service]
Type=oneshot
${runLines(d)}
ExecStart=${exec}
${hardening("web", d.confinement)}`;
}

/** The timer of a scheduled job: `OnCalendar=` as written in the config. */
export function scheduleTimer(
  d: { appName: string; name: string; unit: string; onCalendar: string },
): string {
  return `${processMarker(d.appName)}
[Unit]
Description=${d.appName}: timer of scheduled job ${d.name}

[Timer]
OnCalendar=${d.onCalendar}
Unit=${d.unit}
Persistent=true

[Install]
WantedBy=timers.target
`;
}
