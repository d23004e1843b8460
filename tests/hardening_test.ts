/**
 * The confinement of djaploy's units (templates/hardening.ts, lib/host/confinement.ts)
 * and the `[systemd] hardening` setting that relaxes it.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { hardening, hardeningProperties, PROTECTION_NAMES } from "../templates/hardening.ts";
import { slotsBootUnit } from "../templates/systemd_unit.ts";
import { backupService } from "../templates/backup_units.ts";
import { litestreamUnit } from "../templates/litestream.ts";
import { renewService } from "../templates/cert_scripts.ts";
import {
  backupConfinement,
  bootConfinement,
  certbotConfinement,
  confinedUnits,
  drainConfinement,
  EXPOSURE_SH,
  litestreamConfinement,
  parseExposure,
  webConfinement,
} from "../lib/host/confinement.ts";
import { layoutFor } from "../lib/host/layout.ts";
import { loadEnvironment, loadProject } from "../lib/config/load.ts";
import { ConfigError } from "../lib/errors.ts";
import type { HostConfig } from "../lib/config/types.ts";

async function loadHost(project: string, inventory = ""): Promise<HostConfig> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_hardening_" }));
  try {
    const files: Record<string, string> = {
      "infra/djaploy.toml": project,
      "infra/inventory/production.toml": inventory +
        '\n[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
    };
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    const loaded = await loadProject({ cwd: dir });
    return (await loadEnvironment(loaded, "production")).hosts[0];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function configError(project: string, inventory = ""): Promise<ConfigError> {
  try {
    await loadHost(project, inventory);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  throw new Error("the config loaded");
}

const PROJECT = 'project_name = "hello"\n';

/** Every protection on: what every unit has unless a project relaxes one. */
const COMMON_TAIL = `PrivateTmp=yes
PrivateDevices=yes
`;

Deno.test("hardening: the boot unit is root without capabilities, network or home", async () => {
  const host = await loadHost(PROJECT, 'defaults.deployment_strategy = "bluegreen"');
  const layout = layoutFor(host);
  assert.equal(
    slotsBootUnit({
      appName: "hello",
      activeSlotFile: layout.activeSlotFile,
      liveSocket: layout.liveSocket,
      slotSockets: { blue: "/run/hello-blue/hello.sock", green: "/run/hello-green/hello.sock" },
      confinement: bootConfinement(host, layout),
    }).split("[Service]\n")[1],
    `Type=oneshot
RemainAfterExit=yes
ExecStartPre=-+/bin/sh -c "set -e; umask 022; slot=$$(cat ${layout.activeSlotFile} 2>/dev/null) || exit 0; case \\"$$slot\\" in blue) s=/run/hello-blue/hello.sock ;; green) s=/run/hello-green/hello.sock ;; *) exit 0 ;; esac; mkdir -p -m 0755 /run/djaploy; ln -sfn \\"$$s\\" /run/djaploy/hello.sock.new; mv -fT /run/djaploy/hello.sock.new /run/djaploy/hello.sock"
ExecStart=/bin/sh -c "slot=$$(cat ${layout.activeSlotFile} 2>/dev/null) || exit 0; case \\"$$slot\\" in blue|green) ;; *) echo \\"${layout.activeSlotFile}: not blue or green\\" >&2; exit 1 ;; esac; exec systemctl start --no-block hello-\\"$$slot\\".service"
# Confinement (djaploy; relax with [systemd] hardening).
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
${COMMON_TAIL}PrivateNetwork=yes
IPAddressDeny=any
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0077

[Install]
WantedBy=multi-user.target
`,
  );
});

Deno.test("hardening: no folder under a home: homes are hidden (ProtectHome=yes)", () => {
  const lines = hardening("boot", { writable: [], readable: ["/var/lib/djaploy/hello"] });
  assert.match(lines, /\nProtectHome=yes\n/);
  assert.doesNotMatch(lines, /BindReadOnlyPaths|ReadWritePaths/);
});

Deno.test("hardening: folders outside homes stay writable under ProtectSystem=strict", () => {
  const lines = hardening("web", {
    writable: ["/home/app/data", "/var/lib/hello", "-/srv/uploads"],
    readable: ["/home/app/apps/hello"],
  });
  assert.match(lines, /\nBindPaths=\/home\/app\/data\n/);
  assert.match(lines, /\nReadWritePaths=\/var\/lib\/hello -\/srv\/uploads\n/);
});

Deno.test("hardening: a relaxed protection loses exactly its directives", () => {
  const c = { writable: ["/home/app/data"], readable: ["/home/app/apps/hello"] };
  const full = hardening("web", c).split("\n");
  const relaxed = hardening("web", {
    ...c,
    relaxed: ["memory_deny_write_execute", "private_devices", "system_call_filter", "umask"],
  }).split("\n");
  assert.deepEqual(full.filter((l) => !relaxed.includes(l)), [
    "PrivateDevices=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "UMask=0027",
  ]);
  assert.ok(relaxed.every((l) => full.includes(l)));
});

Deno.test("hardening: protect_home relaxed: the app's folders become ReadWritePaths", () => {
  const lines = hardening("web", {
    writable: ["/home/app/data"],
    readable: ["/home/app/apps/hello"],
    relaxed: ["protect_home"],
  });
  assert.doesNotMatch(lines, /ProtectHome|BindPaths|BindReadOnlyPaths/);
  assert.match(lines, /\nReadWritePaths=\/home\/app\/data\n/);
  const loose = hardening("web", {
    writable: ["/home/app/data"],
    relaxed: ["protect_home", "protect_system"],
  });
  assert.doesNotMatch(loose, /ProtectSystem|ReadWritePaths/);
});

Deno.test("hardening: the web units read the app and write data, media and shared resources", async () => {
  const slots = await loadHost(
    PROJECT + 'deployment_strategy = "zero_downtime"\nshared_resources = ["hello/public"]\n' +
      "[systemd]\nhardening = { private_users = false }\n",
  );
  assert.deepEqual(webConfinement(slots, layoutFor(slots)), {
    readable: ["/home/app/apps/hello"],
    writable: [
      "/home/app/data",
      "/home/app/apps/hello/shared/media",
      "-/home/app/apps/hello/shared/hello/public",
    ],
    relaxed: ["private_users"],
  });
  const inPlace = await loadHost(PROJECT + 'shared_resources = ["hello/public"]\n');
  assert.deepEqual(webConfinement(inPlace, layoutFor(inPlace)).writable, [
    "/home/app/data",
    "/home/app/apps/hello/shared/media",
    "-/home/app/apps/hello/code/hello/public",
  ]);
});

Deno.test("hardening: backup, litestream and certbot units carry their confinement", async () => {
  const host = await loadHost(PROJECT);
  const layout = layoutFor(host);
  const backup = backupService({
    appName: "hello",
    backend: "borg",
    exec: ["/usr/bin/python3", "/usr/local/lib/djaploy/backup.py", "run", "/x.json"],
    schedule: "0 3 * * *",
    onCalendar: "*-*-* 03:00:00",
    user: "app",
    credentials: [],
    confinement: backupConfinement(host, layout, {
      backend: "borg",
      stagingDir: "/home/app/apps/hello/.djaploy/backup-borg",
      userHome: "/home/app",
    }),
  });
  assert.match(
    backup,
    /\nSuccessExitStatus=75\n# Confinement .*\nNoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=read-only\nReadWritePaths=\/home\/app\/data \/home\/app\/apps\/hello\/\.djaploy -\/home\/app\/\.cache -\/home\/app\/\.config\n/,
  );
  assert.match(
    backup,
    /\nCapabilityBoundingSet=\nUMask=0077\n$/,
  );

  const litestream = litestreamUnit({
    appUser: "app",
    binary: "/usr/local/bin/litestream",
    config: "/etc/litestream.yml",
    confinement: litestreamConfinement(host, layout),
  });
  assert.match(litestream, /\nProtectHome=tmpfs\nBindPaths=\/home\/app\/data\n/);
  assert.match(litestream, /\nPrivateUsers=yes\n/);
  assert.match(litestream, /\nCapabilityBoundingSet=\nUMask=0027\n\n\[Install\]/);

  const renew = renewService({
    confinement: certbotConfinement(host, {
      acmeRoot: "/var/www/acme",
      certsDir: "/etc/djaploy/certs",
    }),
  });
  assert.match(
    renew,
    /\nProtectHome=yes\nReadWritePaths=-\/etc\/letsencrypt -\/var\/lib\/letsencrypt -\/var\/log\/letsencrypt -\/var\/www\/acme -\/etc\/djaploy\/certs -\/var\/log\/nginx -\/var\/lib\/nginx\n/,
  );
  assert.match(
    renew,
    /\nCapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_NET_BIND_SERVICE\n/,
  );
});

Deno.test("[systemd] hardening: a table of booleans or a list of names; false and listed relax", async () => {
  const table = await loadHost(
    PROJECT + "[systemd]\nhardening = { memory_deny_write_execute = false, umask = true }\n",
  );
  assert.deepEqual(table.systemd.hardening, ["memory_deny_write_execute"]);
  const list = await loadHost(
    PROJECT,
    '[defaults.systemd]\nhardening = ["private_devices", "memory_deny_write_execute"]\n',
  );
  assert.deepEqual(list.systemd.hardening, ["private_devices", "memory_deny_write_execute"]);
  assert.deepEqual((await loadHost(PROJECT)).systemd.hardening, []);
});

Deno.test("[systemd] hardening: unknown names and wrong types are config errors", async () => {
  const allowed = `allowed: ${PROTECTION_NAMES.join(", ")}`;
  const cases: [string, string][] = [
    [
      "hardening = { memory_deny_write_exec = false }",
      'infra/djaploy.toml:3: systemd.hardening.memory_deny_write_exec: must name a protection (did you mean "memory_deny_write_execute"?): got "memory_deny_write_exec"; ' +
      allowed,
    ],
    [
      'hardening = ["private_devices", "privte_tmp"]',
      'infra/djaploy.toml:3: systemd.hardening[1]: must name a protection (did you mean "private_tmp"?): got "privte_tmp"; ' +
      allowed,
    ],
    [
      'hardening = { umask = "no" }',
      'infra/djaploy.toml:3: systemd.hardening.umask: must be false (relax) or true (keep): got "no"',
    ],
    [
      'hardening = "all"',
      "infra/djaploy.toml:3: systemd.hardening: must be a table of booleans ({ private_devices = false }) " +
      'or an array of protection names: got "all"',
    ],
  ];
  for (const [line, message] of cases) {
    const e = await configError(`${PROJECT}[systemd]\n${line}\n`);
    assert.equal(e.message, message);
    assert.equal(e.exitCode, 2);
  }
});

Deno.test("verify: the units rated for each strategy and module, with their targets", async () => {
  const inPlace = await loadHost(PROJECT);
  assert.deepEqual(confinedUnits(inPlace, layoutFor(inPlace), { backupServices: [] }), [
    { unit: "hello.service", target: 3.0 },
  ]);
  const slots = await loadHost(PROJECT + 'deployment_strategy = "bluegreen"\n');
  assert.deepEqual(
    confinedUnits(slots, layoutFor(slots), {
      backupServices: ["hello-backup-borg.service"],
      litestream: "litestream.service",
      certRenewal: "djaploy-certbot-renew.service",
    }),
    [
      { unit: "hello-blue.service", target: 3.0 },
      { unit: "hello-green.service", target: 3.0 },
      { unit: "hello-slots.service", target: 4.0 },
      { unit: "hello-backup-borg.service", target: 4.0 },
      { unit: "litestream.service", target: 4.0 },
      { unit: "djaploy-certbot-renew.service", target: 4.0 },
    ],
  );
});

Deno.test("verify: EXPOSURE_SH turns systemd-analyze's verdict into one line a unit", async () => {
  // systemd-analyze security's last line, as systemd 252 prints it.
  const dir = await Deno.makeTempDir({ prefix: "djaploy_exposure_" });
  try {
    await Deno.writeTextFile(
      join(dir, "systemd-analyze"),
      `#!/bin/sh\necho "  NAME  DESCRIPTION  EXPOSURE"\necho "✗ PrivateNetwork=  Service has access to the host's network  0.5"\necho ""\necho "→ Overall exposure level for $3: 1.3 OK :-)"\n`,
    );
    await Deno.chmod(join(dir, "systemd-analyze"), 0o755);
    // The script only rates units whose file exists in /etc/systemd/system: use one that does not
    // need to, by pointing the check at a folder of ours.
    const script = EXPOSURE_SH.replace("/etc/systemd/system/", `${dir}/`);
    await Deno.writeTextFile(join(dir, "hello-blue.service"), "");
    const out = await new Deno.Command("sh", {
      args: ["-c", script, "sh", "hello-blue.service", "hello-green.service"],
      env: { PATH: `${dir}:${Deno.env.get("PATH")}` },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(stdout, "exposure hello-blue.service 1.3 OK\n");
    assert.deepEqual(
      parseExposure(stdout + "missing nginx\n"),
      new Map([["hello-blue.service", { exposure: 1.3, predicate: "OK" }]]),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hardening: litestream writes its file replicas' folders and reads sftp keys from the home", async () => {
  const host = await loadHost(
    PROJECT + '[litestream]\ndatabases = ["hello.sqlite3"]\n' +
      '[[litestream.replicas]]\ntype = "file"\npath = "/var/backups/litestream"\n' +
      '[[litestream.replicas]]\ntype = "sftp"\npath = "ls"\nhost = "b:22"\nuser = "u"\n' +
      'key_path = "/home/app/.ssh/litestream"\n',
  );
  const confinement = litestreamConfinement(host, layoutFor(host));
  assert.deepEqual(confinement, {
    writable: ["/home/app/data", "-/var/backups/litestream"],
    readable: ["-/home/app/.ssh/litestream"],
    relaxed: [],
  });
  const lines = hardening("litestream", confinement);
  assert.match(
    lines,
    /\nProtectHome=tmpfs\nBindReadOnlyPaths=-\/home\/app\/\.ssh\/litestream\nBindPaths=\/home\/app\/data\nReadWritePaths=-\/var\/backups\/litestream\n/,
  );
});

Deno.test("hardening: a backup to a folder of the server may write that folder", async () => {
  const host = await loadHost(PROJECT + '[borg]\nrepository = "/var/backups/borg"\n');
  const c = backupConfinement(host, layoutFor(host), {
    backend: "borg",
    stagingDir: "/var/lib/djaploy/hello/backup-borg",
    userHome: "/home/app",
  });
  assert.deepEqual(c.writable, [
    "/home/app/data",
    "/var/lib/djaploy/hello",
    "-/home/app/.cache",
    "-/home/app/.config",
    "-/var/backups/borg",
  ]);
  assert.match(
    hardening("backup", c),
    /\nProtectHome=read-only\nReadWritePaths=\/home\/app\/data -\/home\/app\/\.cache -\/home\/app\/\.config\nReadWritePaths=\/var\/lib\/djaploy\/hello -\/var\/backups\/borg\n/,
  );
});

Deno.test("hardening: the drain unit's confinement as systemd-run properties", async () => {
  const host = await loadHost(PROJECT + "[systemd]\nhardening = { umask = false }\n");
  const props = hardeningProperties("drain", drainConfinement(host));
  assert.deepEqual(props.filter((_, i) => i % 2 === 0), Array(props.length / 2).fill("-p"));
  assert.deepEqual(props.filter((_, i) => i % 2 === 1), [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "RestrictAddressFamilies=AF_UNIX AF_NETLINK",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "SystemCallArchitectures=native",
    "CapabilityBoundingSet=",
  ]);
});
