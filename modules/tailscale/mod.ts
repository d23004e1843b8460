/**
 * tailscale: installs Tailscale (from its apt repository, or the static
 * release archive with a checked SHA-256), starts tailscaled and joins the
 * tailnet with the auth key. The key is a secret: it reaches `tailscale up`
 * on stdin, through a 0600 file (`--auth-key=file:`), never in an argument
 * or a log. Optional tags and hostname; `cert = true` fetches the node's
 * HTTPS certificate with `tailscale cert`, which the certs module (when
 * enabled) installs for nginx. See docs/operations-modules.md.
 */
import { posix } from "node:path";
import { defineModule, type Step, type StepContext } from "../../lib/module.ts";
import type { FactProbe } from "../../lib/facts.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import { unitsProbe } from "../../lib/probes.ts";
import { putFile, sha256 } from "../../lib/remote_ops.ts";
import { shScript } from "../../lib/remote_command.ts";
import { ConfigError, UserError } from "../../lib/errors.ts";
import { configSecret } from "../../lib/backup/secrets.ts";
import {
  CHECK_SHA256_SH,
  downloadVerified,
  fillUrl,
  goArch,
  shipVerified,
} from "../../lib/verified_download.ts";
import { archProbe } from "../litestream/mod.ts";
import {
  TAILSCALED_DEFAULTS,
  tailscaledUnit,
  tailscaleSourcesList,
} from "../../templates/tailscale.ts";
import {
  CERT_SH,
  INSTALL_BINARY_SH as INSTALL_BINARY_SH_ONLY,
  INSTALL_KEYRING_SH as INSTALL_KEYRING_SH_ONLY,
  JOIN_SH,
} from "./programs.gen.ts";

export const KEYRING = "/usr/share/keyrings/tailscale-archive-keyring.gpg";
export const SOURCES_LIST = "/etc/apt/sources.list.d/tailscale.list";
export const BINARY_MARKER = "/usr/local/lib/djaploy/tailscale.sha256";
export const TAILSCALED_UNIT_PATH = "/etc/systemd/system/tailscaled.service";
export const TAILSCALED_DEFAULTS_PATH = "/etc/default/tailscaled";
export const CERT_DIR = "/etc/djaploy/tailscale";

export interface TailscaleState {
  readonly installed: boolean;
  /** tailscale's BackendState: "Running" once joined. */
  readonly backendState?: string;
  /** The node's MagicDNS name, without the final dot. */
  readonly dnsName?: string;
}

/** Parses `tailscale status --json` (or "missing" when there is no tailscale). */
export function parseStatus(out: string): TailscaleState {
  if (out.trim() === "missing") return { installed: false };
  try {
    const j = JSON.parse(out) as { BackendState?: string; Self?: { DNSName?: string } };
    return {
      installed: true,
      backendState: j.BackendState,
      dnsName: j.Self?.DNSName?.replace(/\.$/, "") || undefined,
    };
  } catch {
    return { installed: true };
  }
}

export const statusProbe: FactProbe<TailscaleState> = {
  name: "tailscale",
  argv: shScript(
    "command -v tailscale >/dev/null || { echo missing; exit 0; }; tailscale status --json 2>/dev/null; true",
  ),
  parse: (out) => parseStatus(out),
};

export const codenameProbe: FactProbe<string> = {
  name: "os-codename",
  argv: shScript('. /etc/os-release && echo "$VERSION_CODENAME"'),
  parse: (out) => out.trim(),
};

const daemonProbe = unitsProbe(["tailscaled.service"], "units:tailscaled");

// Arguments: archive sha256 bin_dir.
const INSTALL_BINARY_SH = CHECK_SHA256_SH + INSTALL_BINARY_SH_ONLY;

// Arguments: keyring_file sha256 destination.
const INSTALL_KEYRING_SH = CHECK_SHA256_SH + INSTALL_KEYRING_SH_ONLY;

/** The key arrives on stdin and lives in a 0600 file only while `tailscale up` runs. */
export { JOIN_SH };

export function validateTailscale(host: HostConfig): void {
  const t = host.tailscale;
  const problem = !t.auth_key
    ? "tailscale.auth_key is missing (a secret reference)"
    : t.install === "binary" && !t.sha256
    ? 'tailscale.sha256 is missing (install = "binary" needs the archive\'s checksum)'
    : undefined;
  if (problem) {
    throw new ConfigError(`Configure the tailscale module for host ${host.name}: ${problem}`, {
      hint: "See docs/operations-modules.md for a complete [tailscale] table.",
    });
  }
}

/** The flags of `tailscale up`, after the auth key. */
export function upFlags(host: HostConfig): string[] {
  const t = host.tailscale;
  return [
    ...(t.hostname ? [`--hostname=${t.hostname}`] : []),
    ...(t.tags.length ? [`--advertise-tags=${t.tags.join(",")}`] : []),
    ...t.extra_args,
  ];
}

async function installFromRepository(ctx: StepContext): Promise<void> {
  const t = ctx.host.tailscale;
  const codename = ctx.facts.get(codenameProbe) || "bookworm";
  const key = await downloadVerified(
    fillUrl(t.repository_key_url, { codename }),
    t.repository_key_sha256,
    { what: "Tailscale's repository key", signal: ctx.signal },
  );
  let changed = false;
  if (ctx.facts.fileHash(KEYRING) !== key.sha256) {
    const shipped = await shipVerified(ctx, key);
    await ctx.exec.run({
      argv: shScript(INSTALL_KEYRING_SH, shipped, key.sha256, KEYRING),
      as: "root",
    });
    ctx.facts.setFileHash(KEYRING, key.sha256);
    changed = true;
  }
  changed = await putFile(ctx, {
    path: SOURCES_LIST,
    content: tailscaleSourcesList({ url: t.repository_url, codename, keyring: KEYRING }),
  }) || changed;
  if (ctx.facts.get(statusProbe).installed && !changed) return;
  await ctx.exec.run({ argv: ["apt-get", "update", "-qq"], as: "root" });
  await ctx.exec.run({
    argv: ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "tailscale"],
    as: "root",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  ctx.notes.set("tailscale:installed", true);
  ctx.changed("installed tailscale from its repository");
}

async function installBinary(ctx: StepContext): Promise<void> {
  const t = ctx.host.tailscale;
  const marker = `${t.sha256}\n`;
  let wrote = false;
  if (ctx.facts.fileHash(BINARY_MARKER) !== sha256(marker)) {
    const arch = goArch(ctx.facts.get(archProbe));
    const file = await downloadVerified(fillUrl(t.url, { version: t.version, arch }), t.sha256!, {
      what: `tailscale ${t.version}`,
      signal: ctx.signal,
    });
    const archive = await shipVerified(ctx, file);
    await ctx.exec.run({
      argv: shScript(INSTALL_BINARY_SH, archive, file.sha256, "/usr/local/bin"),
      as: "root",
    });
    await putFile(ctx, { path: BINARY_MARKER, content: marker });
    ctx.notes.set("tailscale:installed", true);
    ctx.changed(`installed tailscale ${t.version} (${arch})`);
    wrote = true;
  }
  const unit = await putFile(ctx, {
    path: TAILSCALED_UNIT_PATH,
    content: tailscaledUnit({
      tailscaled: "/usr/local/bin/tailscaled",
      defaults: TAILSCALED_DEFAULTS_PATH,
    }),
  });
  const defaults = await putFile(ctx, {
    path: TAILSCALED_DEFAULTS_PATH,
    content: TAILSCALED_DEFAULTS,
  });
  if (unit || defaults) await ctx.exec.run({ argv: ["systemctl", "daemon-reload"], as: "root" });
  if (wrote || unit || defaults) ctx.notes.set("tailscale:restart", true);
}

const install: Step = {
  name: "tailscale install",
  async run(ctx) {
    if (ctx.host.tailscale.install === "repository") await installFromRepository(ctx);
    else await installBinary(ctx);
  },
};

const daemon: Step = {
  name: "tailscaled",
  async run(ctx) {
    const state = ctx.facts.get(daemonProbe).get("tailscaled.service");
    if (state?.enabled !== "enabled" || state?.active !== "active") {
      await ctx.exec.run({
        argv: ["systemctl", "enable", "--now", "--quiet", "tailscaled.service"],
        as: "root",
      });
      ctx.changed("started tailscaled");
    } else if (ctx.notes.get("tailscale:restart")) {
      await ctx.exec.run({ argv: ["systemctl", "restart", "tailscaled.service"], as: "root" });
      ctx.changed("restarted tailscaled");
    }
  },
};

const join: Step = {
  name: "tailscale up",
  async run(ctx) {
    if (ctx.facts.get(statusProbe).backendState === "Running") return;
    const key = await configSecret(ctx, ctx.host.tailscale.auth_key!, "tailscale.auth_key");
    await ctx.exec.run({
      argv: shScript(JOIN_SH, ...upFlags(ctx.host)),
      as: "root",
      stdin: key,
    });
    ctx.changed(
      `joined the tailnet${
        ctx.host.tailscale.hostname ? ` as ${ctx.host.tailscale.hostname}` : ""
      }`,
    );
  },
};

/** Note: the tailnet name whose certificate `tailscale cert` fetched in this run. */
export const CERT_FETCHED = "tailscale:cert";

/** Where `tailscale cert` puts the node's certificate (with its chain) and key. */
export function tailnetCertFiles(name: string): { cert: string; key: string } {
  return {
    cert: posix.join(CERT_DIR, `${name}.crt`),
    key: posix.join(CERT_DIR, `${name}.key`),
  };
}

// $1 folder, $2 tailnet name. umask 077 before tailscale writes: the key is never readable by
// others, not even while it is written.
export { CERT_SH };

/** The node's tailnet (MagicDNS) name: from the facts, or asked again right after joining. */
export async function tailnetName(ctx: StepContext): Promise<string> {
  let name = ctx.facts.get(statusProbe).dnsName;
  if (!name) {
    const r = await ctx.exec.run({
      argv: ["tailscale", "status", "--json"],
      as: "root",
      readOnly: true,
    });
    name = parseStatus(r.stdout).dnsName;
  }
  if (!name) {
    throw new UserError(
      `Enable HTTPS in the tailnet for ${ctx.host.name}: the node has no DNS name`,
      {
        hint:
          "tailscale cert needs MagicDNS and HTTPS certificates turned on in the admin console.",
      },
    );
  }
  return name;
}

/**
 * Runs `tailscale cert` for the node's tailnet name, once per run: in
 * configure (this module's step), and in sync-certs and renew-certs (the
 * certs module's HTTPS step, which installs the result for nginx). tailscale
 * hands back its cached certificate until that is due for renewal, then gets
 * a new one. Returns the name.
 */
export async function fetchTailnetCertificate(ctx: StepContext): Promise<string> {
  const fetched = ctx.notes.get(CERT_FETCHED);
  if (typeof fetched === "string") return fetched;
  const name = await tailnetName(ctx);
  await ctx.exec.run({ argv: shScript(CERT_SH, CERT_DIR, name), as: "root" });
  ctx.notes.set(CERT_FETCHED, name);
  ctx.log.info(`certificate for ${name} in ${tailnetCertFiles(name).cert}`);
  return name;
}

const cert: Step = {
  name: "tailscale cert",
  async run(ctx) {
    if (ctx.host.tailscale.cert) await fetchTailnetCertificate(ctx);
  },
};

export default defineModule({
  name: "tailscale",
  description:
    "Joins the servers to a tailnet (auth key from a secret), optional tags and certificate",
  facts: (host) => {
    validateTailscale(host);
    return [archProbe, codenameProbe, statusProbe, daemonProbe];
  },
  packages: (host) => host.tailscale.install === "repository" ? ["ca-certificates"] : [],
  files:
    () => [KEYRING, SOURCES_LIST, BINARY_MARKER, TAILSCALED_UNIT_PATH, TAILSCALED_DEFAULTS_PATH],
  steps: { configure: [install, daemon, join, cert] },
});
