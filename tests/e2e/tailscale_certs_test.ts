/**
 * End to end, `djaploy certs` lists a host's tailnet certificate ([tailscale]
 * cert = true): the tailnet name comes from `tailscale status --json` on the
 * host (a stand-in: tailscale cannot be installed here), the certificate from
 * /etc/djaploy/certs/<tailnet name>/, where the certs module installs it.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, makeProject, withHosts } from "./harness.ts";
import { ok } from "./harness/expect.ts";

const TAILNET_NAME = "web-1.tail-abc.ts.net";

const STAND_IN = `#!/bin/sh
[ "$1" = status ] && [ "$2" = --json ] || exit 2
printf '{"BackendState":"Running","Self":{"DNSName":"${TAILNET_NAME}."}}\\n'
`;

e2eTest("certs: lists the tailnet certificate of a host with [tailscale] cert = true", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const install = await host.ssh(
      `echo ${btoa(STAND_IN)} | base64 -d | sudo -n tee /usr/local/bin/tailscale >/dev/null &&
sudo -n chmod 755 /usr/local/bin/tailscale &&
sudo -n mkdir -p /etc/djaploy/certs/${TAILNET_NAME} &&
sudo -n openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \\
  -subj /CN=${TAILNET_NAME} -keyout /etc/djaploy/certs/${TAILNET_NAME}/privkey.pem \\
  -out /etc/djaploy/certs/${TAILNET_NAME}/fullchain.pem 2>/dev/null &&
sudo -n openssl x509 -in /etc/djaploy/certs/${TAILNET_NAME}/fullchain.pem -noout -serial`,
    );
    assert.equal(install.code, 0, install.stderr);
    const serial = install.stdout.trim().replace(/^serial=/, "");
    const project = await makeProject({
      hosts: [host],
      modules: ["core", "nginx", "systemd", "tailscale", "certs"],
      config: `[tailscale]\nauth_key = "env:TS_KEY"\ncert = true\n`,
    });
    const list = await djaploy(project, ["certs", "--env", "test", "--json"], {
      env: { TS_KEY: "tskey-auth-test" },
    });
    ok(list, "certs --json");
    const rows = JSON.parse(list.stdout) as {
      name: string;
      challenge: string;
      hosts: { host: string; serial?: string; days_left?: number }[];
    }[];
    const row = rows.find((r) => r.name === TAILNET_NAME);
    assert.ok(row, `no row for ${TAILNET_NAME}:\n${list.stdout}`);
    assert.equal(row.challenge, "tailscale");
    assert.equal(row.hosts[0].host, "web-1");
    // Serials are numbers: one printer keeps a leading zero, another drops it.
    const number = (hex: string | undefined) =>
      hex?.replaceAll(":", "").toLowerCase().replace(/^0+/, "");
    assert.equal(number(row.hosts[0].serial), number(serial));
    assert.ok((row.hosts[0].days_left ?? 0) >= 89);

    const text = await djaploy(project, ["certs", "--env", "test"], {
      env: { TS_KEY: "tskey-auth-test" },
    });
    ok(text, "certs");
    assert.match(
      text.stdout,
      new RegExp(`${TAILNET_NAME.replaceAll(".", "\\.")}  \\(tailscale cert\\)`),
    );
  });
});
