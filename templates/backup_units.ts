/** The systemd service and timer that run a scheduled backup. */
import { systemdQuote } from "./systemd_unit.ts";

export interface BackupUnitData {
  readonly appName: string;
  readonly backend: string;
  /** The program and its arguments. */
  readonly exec: readonly string[];
  /** The cron schedule as written in the config (shown in the description). */
  readonly schedule: string;
  /** Its OnCalendar= form. */
  readonly onCalendar: string;
  /** The app's user: the job runs as it (User=, Group=), never as root. */
  readonly user: string;
  /**
   * Root-owned files the job reads (settings, credentials), by credential
   * name: systemd copies them into $CREDENTIALS_DIRECTORY for the run.
   */
  readonly credentials: readonly { readonly name: string; readonly path: string }[];
}

export function backupService(d: BackupUnitData): string {
  return `# Written by djaploy: one backup of ${d.appName} with ${d.backend}.
[Unit]
Description=${d.appName}: backup with ${d.backend} (djaploy)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User=${d.user}
Group=${d.user}
${d.credentials.map((c) => `LoadCredential=${c.name}:${c.path}\n`).join("")}ExecStart=${
    d.exec.map(systemdQuote).join(" ")
  }
Nice=10
IOSchedulingClass=idle
# 75: another backup holds the lock; the next run catches up.
SuccessExitStatus=75
`;
}

export function backupTimer(d: BackupUnitData): string {
  return `# Written by djaploy: schedule = "${d.schedule}" (cron) for ${d.appName}'s ${d.backend} backups.
[Unit]
Description=${d.appName}: scheduled backups with ${d.backend} (djaploy)

[Timer]
OnCalendar=${d.onCalendar}
# A run missed while the server was off happens at the next boot.
Persistent=true
RandomizedDelaySec=60

[Install]
WantedBy=timers.target
`;
}
