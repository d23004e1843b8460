/** Tailscale's apt source, and the unit and defaults of a tailscaled installed from the static archive. */

export function tailscaleSourcesList(
  d: { url: string; codename: string; keyring: string },
): string {
  return `# Written by djaploy ([tailscale] install = "repository").
deb [signed-by=${d.keyring}] ${d.url} ${d.codename} main
`;
}

/** As Tailscale's own package ships it, for the binaries in /usr/local/bin. */
export function tailscaledUnit(d: { tailscaled: string; defaults: string }): string {
  return `# Written by djaploy ([tailscale] install = "binary"), after Tailscale's own unit.
[Unit]
Description=Tailscale node agent
Documentation=https://tailscale.com/kb/
Wants=network-pre.target
After=network-pre.target NetworkManager.service systemd-resolved.service

[Service]
EnvironmentFile=${d.defaults}
ExecStart=${d.tailscaled} --state=/var/lib/tailscale/tailscaled.state --socket=/run/tailscale/tailscaled.sock --port=\${PORT} $FLAGS
ExecStopPost=${d.tailscaled} --cleanup
Restart=on-failure
RuntimeDirectory=tailscale
RuntimeDirectoryMode=0755
StateDirectory=tailscale
StateDirectoryMode=0700
CacheDirectory=tailscale
CacheDirectoryMode=0750
Type=notify

[Install]
WantedBy=multi-user.target
`;
}

export const TAILSCALED_DEFAULTS = `# Written by djaploy: tailscaled's port and extra flags.
PORT="41641"
FLAGS=""
`;
