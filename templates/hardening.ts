/**
 * The sandbox of every systemd unit djaploy writes, in one place: each unit
 * template calls `hardening(kind, confinement)` and puts the lines in its
 * [Service] section. `systemd-analyze security UNIT` rates the result; the
 * targets (web units at most 3.0, the others at most 4.0) and the measured
 * scores are in docs/security.md.
 */

/** What runs in a unit, which decides what it may do. */
export type UnitKind =
  | "web"
  | "boot"
  | "backup"
  | "certbot"
  | "litestream"
  | "drain"
  | "notify";

/**
 * The protections a project may relax with `[systemd] hardening`, each with
 * the reason an app would need to (shown in the docs and in config errors).
 */
export const PROTECTIONS = {
  no_new_privileges: "the app runs setuid programs (sudo, ping from a Debian package)",
  protect_system: "the app writes outside its data, media and shared folders (e.g. /var/lib/x)",
  protect_home: "the app reads or writes in the app user's home outside its app and data folders",
  private_tmp: "the app shares files in /tmp with other processes",
  private_devices: "the app opens devices (a GPU, a serial port, /dev/kvm)",
  private_users: "the app needs to see the real owners of files it did not create",
  private_network: "the boot unit's commands need the network (djaploy's own do not)",
  protect_kernel_tunables: "the app writes /proc/sys or /sys settings",
  protect_kernel_modules: "the app loads kernel modules",
  protect_kernel_logs: "the app reads the kernel log (dmesg)",
  protect_control_groups: "the app manages cgroups itself",
  protect_clock: "the app sets the system clock",
  protect_hostname: "the app changes the host name",
  protect_proc: "the app inspects other users' processes in /proc (monitoring agents)",
  restrict_address_families: "the app opens sockets other than unix, IPv4 and IPv6 (netlink)",
  restrict_namespaces: "the app starts sandboxes of its own (bubblewrap, chromium's sandbox)",
  restrict_realtime: "the app asks for realtime scheduling",
  restrict_suid_sgid: "the app creates setuid or setgid files",
  lock_personality: "the app runs 32-bit or other-ABI programs",
  memory_deny_write_execute: "the app makes machine code at run time (ctypes callbacks, a JIT)",
  system_call_filter: "the app makes system calls outside systemd's @system-service set",
  system_call_architectures: "the app runs programs of another architecture (i386 on amd64)",
  capability_bounding_set: "a program of the unit needs a capability djaploy does not grant",
  umask: "the app's new files must be readable by other users (umask 0022 instead of 0027)",
} as const;

export type Protection = keyof typeof PROTECTIONS;
export const PROTECTION_NAMES = Object.keys(PROTECTIONS) as Protection[];

/** What one unit may touch, and what the project relaxed. */
export interface Confinement {
  /**
   * Folders the unit writes. Under a home folder they are bound into an empty
   * one (ProtectHome=tmpfs); elsewhere they stay writable under
   * ProtectSystem=strict. A leading "-" makes a folder optional (it may not
   * exist yet).
   */
  readonly writable: readonly string[];
  /** Folders under a home folder the unit only reads (the app's code and virtualenv). */
  readonly readable?: readonly string[];
  /**
   * The unit's programs keep caches in their user's home (borg, rclone):
   * homes are read-only instead of hidden, with `writable` open.
   */
  readonly usesHome?: boolean;
  /** `[systemd] hardening`: the protections the project turned off. */
  readonly relaxed?: readonly Protection[];
}

interface Profile {
  /** RestrictAddressFamilies=; empty: none at all. */
  readonly families: readonly string[];
  /** No network at all (its own network namespace). */
  readonly privateNetwork: boolean;
  /** The unit runs as root: the capabilities it keeps (none for the app user's units). */
  readonly capabilities: readonly string[];
  /** Runs as the app user: a user namespace of its own (PrivateUsers=) works. */
  readonly privateUsers: boolean;
  readonly umask: string;
  /**
   * Sees every process in /proc: the backup's stale-lock check must find a
   * borg of any user holding the repository's lock before it breaks it.
   */
  readonly seesProcesses?: boolean;
}

const WEB_FAMILIES = ["AF_UNIX", "AF_INET", "AF_INET6"];

const PROFILES: Readonly<Record<UnitKind, Profile>> = {
  // gunicorn as the app user: serves a unix socket, talks to databases and APIs.
  web: {
    families: WEB_FAMILIES,
    privateNetwork: false,
    capabilities: [],
    privateUsers: true,
    umask: "0027",
  },
  // Root, but only to ask systemd (a unix socket) to start the live slot.
  boot: {
    families: ["AF_UNIX"],
    privateNetwork: true,
    capabilities: [],
    privateUsers: false,
    umask: "0077",
  },
  // The app user (User=): it reads and writes only what that user may; its settings and
  // credentials come through LoadCredential=, which systemd reads as root.
  backup: {
    families: WEB_FAMILIES,
    privateNetwork: false,
    capabilities: [],
    seesProcesses: true,
    privateUsers: false,
    umask: "0077",
  },
  // Root: certbot writes /etc/letsencrypt and the ACME webroot; its deploy hook runs
  // `nginx -t`, which binds nginx's ports to test them, and reloads nginx.
  certbot: {
    families: WEB_FAMILIES,
    privateNetwork: false,
    capabilities: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_NET_BIND_SERVICE"],
    privateUsers: false,
    umask: "0022",
  },
  // Root, but only to watch a socket's connections (ss: netlink) and ask systemd to stop a
  // unit; it needs the host's network namespace to see the socket.
  drain: {
    families: ["AF_UNIX", "AF_NETLINK"],
    privateNetwork: false,
    capabilities: [],
    privateUsers: false,
    umask: "0077",
  },
  // A dynamic user (neither root nor the app user) that POSTs one message to a webhook:
  // it reads only its credential and talks HTTP(S) (unix sockets for name lookups).
  notify: {
    families: WEB_FAMILIES,
    privateNetwork: false,
    capabilities: [],
    privateUsers: true,
    umask: "0077",
  },
  // litestream as the app user: reads the databases, ships WAL to a replica.
  litestream: {
    families: WEB_FAMILIES,
    privateNetwork: false,
    capabilities: [],
    privateUsers: true,
    umask: "0027",
  },
};

const HOMES = ["/home", "/root", "/run/user"];

function underHome(path: string): boolean {
  const p = path.replace(/^-/, "");
  return HOMES.some((h) => p === h || p.startsWith(`${h}/`));
}

/** The sandbox lines of a unit's [Service] section, one directive a line, ending in a newline. */
export function hardening(kind: UnitKind, c: Confinement): string {
  const p = PROFILES[kind];
  const relaxed = new Set(c.relaxed ?? []);
  const on = (name: Protection) => !relaxed.has(name);
  const lines: string[] = ["# Confinement (djaploy; relax with [systemd] hardening)."];
  const add = (name: Protection, ...directives: string[]) => {
    if (on(name)) lines.push(...directives);
  };

  add("no_new_privileges", "NoNewPrivileges=yes");
  add("protect_system", "ProtectSystem=strict");
  const homeWritable = c.writable.filter(underHome);
  const homeReadable = (c.readable ?? []).filter(underHome);
  const elsewhere = c.writable.filter((w) => !underHome(w));
  if (!on("protect_home")) {
    if (on("protect_system") && homeWritable.length) {
      lines.push(`ReadWritePaths=${homeWritable.join(" ")}`);
    }
  } else if (c.usesHome) {
    lines.push("ProtectHome=read-only");
    if (homeWritable.length) lines.push(`ReadWritePaths=${homeWritable.join(" ")}`);
  } else if (homeWritable.length || homeReadable.length) {
    lines.push("ProtectHome=tmpfs");
    if (homeReadable.length) lines.push(`BindReadOnlyPaths=${homeReadable.join(" ")}`);
    if (homeWritable.length) lines.push(`BindPaths=${homeWritable.join(" ")}`);
  } else {
    lines.push("ProtectHome=yes");
  }
  if (on("protect_system") && elsewhere.length) {
    lines.push(`ReadWritePaths=${elsewhere.join(" ")}`);
  }
  add("private_tmp", "PrivateTmp=yes");
  add("private_devices", "PrivateDevices=yes");
  if (p.privateUsers) add("private_users", "PrivateUsers=yes");
  if (p.privateNetwork) add("private_network", "PrivateNetwork=yes", "IPAddressDeny=any");
  add("protect_kernel_tunables", "ProtectKernelTunables=yes");
  add("protect_kernel_modules", "ProtectKernelModules=yes");
  add("protect_kernel_logs", "ProtectKernelLogs=yes");
  add("protect_control_groups", "ProtectControlGroups=yes");
  add("protect_clock", "ProtectClock=yes");
  add("protect_hostname", "ProtectHostname=yes");
  if (p.seesProcesses) add("protect_proc", "ProcSubset=pid");
  else add("protect_proc", "ProtectProc=invisible", "ProcSubset=pid");
  add("restrict_address_families", `RestrictAddressFamilies=${p.families.join(" ") || "none"}`);
  add("restrict_namespaces", "RestrictNamespaces=yes");
  add("restrict_realtime", "RestrictRealtime=yes");
  add("restrict_suid_sgid", "RestrictSUIDSGID=yes");
  add("lock_personality", "LockPersonality=yes");
  add("memory_deny_write_execute", "MemoryDenyWriteExecute=yes");
  add("system_call_filter", "SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM");
  add("system_call_architectures", "SystemCallArchitectures=native");
  add("capability_bounding_set", `CapabilityBoundingSet=${p.capabilities.join(" ")}`);
  add("umask", `UMask=${p.umask}`);
  return lines.join("\n") + "\n";
}

/**
 * The same directives as `systemd-run` properties, for transient units:
 * `["-p", "NoNewPrivileges=yes", "-p", ...]`.
 */
export function hardeningProperties(kind: UnitKind, c: Confinement): string[] {
  return hardening(kind, c).split("\n").filter((l) => l && !l.startsWith("#")).flatMap((l) => [
    "-p",
    l,
  ]);
}
