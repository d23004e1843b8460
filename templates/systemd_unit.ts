/** The gunicorn service unit of the app. */
import { type Confinement, hardening } from "./hardening.ts";

export interface GunicornUnitData {
  readonly appName: string;
  readonly appUser: string;
  readonly workingDirectory: string;
  readonly envFile: string;
  readonly runtimeDirectory: string;
  readonly python: string;
  readonly socketPath: string;
  /**
   * The unit's own STATIC_ROOT (gunicorn --env, over the env file's live
   * link): the manifest its code reads is its release's, whatever is live.
   */
  readonly staticRoot?: string;
  readonly wsgiModule: string;
  readonly workers: number;
  readonly timeout: number;
  readonly preload: boolean;
  readonly extraArgs: readonly string[];
  /**
   * in_place: the live-socket link nginx connects through; the unit points it
   * at its own socket whenever it starts (at boot too: /run is empty then).
   */
  readonly liveSocketLink?: string;
  /** in_place: the live-static link nginx serves /static/ through; pointed at staticRoot with the socket. */
  readonly liveStaticLink?: string;
  /** What the unit may write and read (templates/hardening.ts). */
  readonly confinement: Confinement;
}

/**
 * systemd splits ExecStart= like a shell and expands % specifiers and $VARS
 * in every argument, quoted or not: double those, quote what needs it.
 */
export function systemdQuote(arg: string): string {
  const escaped = arg.replaceAll("%", "%%").replaceAll("$", "$$$$");
  if (/^[A-Za-z0-9_\/.,:=+@%$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/(["\\])/g, "\\$1")}"`;
}

function posixDirname(path: string): string {
  return path.replace(/\/[^/]*$/, "") || "/";
}

export function gunicornUnit(d: GunicornUnitData): string {
  const exec = [
    d.python,
    "-m",
    "gunicorn",
    "--workers",
    String(d.workers),
    "--timeout",
    String(d.timeout),
    "--bind",
    `unix:${d.socketPath}`,
    ...(d.preload ? ["--preload"] : []),
    ...(d.staticRoot ? ["--env", `STATIC_ROOT=${d.staticRoot}`] : []),
    ...d.extraArgs,
    d.wsgiModule,
  ].map(systemdQuote).join(" ");
  return `# Written by djaploy. To change it, put your own file at this path in
# infra/deploy_files/<env>/ and djaploy will use that instead.
[Unit]
Description=${d.appName} (gunicorn)
After=network.target

[Service]
Type=notify
NotifyAccess=main
User=${d.appUser}
Group=${d.appUser}
WorkingDirectory=${d.workingDirectory}
EnvironmentFile=${d.envFile}
RuntimeDirectory=${d.runtimeDirectory}
ExecStart=${exec}
${
    d.liveSocketLink
      ? `ExecStartPost=+/bin/sh -c ${
        systemdQuote(
          [
            ...(d.liveStaticLink && d.staticRoot ? [[d.liveStaticLink, d.staticRoot]] : []),
            [d.liveSocketLink, d.socketPath],
          ].map(([link, to]) =>
            `mkdir -p ${
              posixDirname(link)
            } && ln -sfn ${to} ${link}.new && mv -fT ${link}.new ${link}`
          ).join(" && "),
        )
      }\n`
      : ""
  }ExecReload=/bin/kill -s HUP $MAINPID
KillMode=mixed
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
${hardening("web", d.confinement)}
[Install]
WantedBy=multi-user.target
`;
}

/**
 * Slot strategies: at boot, start the slot that was live (named in root's
 * record, /var/lib/djaploy/apps/{app}/active-slot). Switching slots then only
 * rewrites that file, instead of enabling and disabling units (each a
 * systemd reload). Whatever the file holds, only blue or green is started.
 * /run is empty after a reboot: before that, the live-socket link nginx
 * connects through is made again, pointing at that slot's socket (with full
 * privileges, `+`: the link lives in root's /run/djaploy, which the confined
 * unit may not write; `-`: if that fails, the slot starts all the same).
 */
export function slotsBootUnit(
  d: {
    appName: string;
    activeSlotFile: string;
    liveSocket: string;
    slotSockets: Readonly<Record<"blue" | "green", string>>;
    confinement: Confinement;
  },
): string {
  const script = [
    `slot=$(cat ${d.activeSlotFile} 2>/dev/null) || exit 0`,
    `case "$slot" in blue|green) ;; *) echo "${d.activeSlotFile}: not blue or green" >&2; exit 1 ;; esac`,
    `exec systemctl start --no-block ${d.appName}-"$slot".service`,
  ].join("; ");
  const link = [
    "set -e",
    "umask 022",
    `slot=$(cat ${d.activeSlotFile} 2>/dev/null) || exit 0`,
    `case "$slot" in blue) s=${d.slotSockets.blue} ;; green) s=${d.slotSockets.green} ;; *) exit 0 ;; esac`,
    `mkdir -p -m 0755 ${posixDirname(d.liveSocket)}`,
    `ln -sfn "$s" ${d.liveSocket}.new`,
    `mv -fT ${d.liveSocket}.new ${d.liveSocket}`,
  ].join("; ");
  return `# Written by djaploy: starts the live slot of ${d.appName} at boot.
[Unit]
Description=${d.appName}: start the live slot
After=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=-+/bin/sh -c ${systemdQuote(link)}
ExecStart=/bin/sh -c ${systemdQuote(script)}
${hardening("boot", d.confinement)}
[Install]
WantedBy=multi-user.target
`;
}
