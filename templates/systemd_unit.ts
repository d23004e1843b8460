/** The gunicorn service unit of the app. */

export interface GunicornUnitData {
  readonly appName: string;
  readonly appUser: string;
  readonly workingDirectory: string;
  readonly envFile: string;
  readonly runtimeDirectory: string;
  readonly python: string;
  readonly socketPath: string;
  readonly wsgiModule: string;
  readonly workers: number;
  readonly timeout: number;
  readonly extraArgs: readonly string[];
}

/** systemd splits ExecStart= like a shell; quote what needs it. */
function systemdQuote(arg: string): string {
  if (/^[A-Za-z0-9_\/.,:=+@%-]+$/.test(arg)) return arg;
  return `"${arg.replace(/(["\\])/g, "\\$1").replaceAll("$", "$$$$").replaceAll("%", "%%")}"`;
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
ExecReload=/bin/kill -s HUP $MAINPID
KillMode=mixed
TimeoutStopSec=30
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}
