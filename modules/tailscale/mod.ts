/**
 * tailscale: installs Tailscale (from its apt repository, or the static
 * release archive with a checked SHA-256), starts tailscaled and joins the
 * tailnet with the auth key. The key is a secret: it reaches `tailscale up`
 * on stdin, through a 0600 file (`--auth-key=file:`), never in an argument
 * or a log. Optional tags and hostname; `cert = true` fetches the node's
 * HTTPS certificate with `tailscale cert`, which the certs module (when
 * enabled) installs for nginx. See docs/operations-modules.md.
 */
import {
  archProbe,
  CHECK_SHA256_SH,
  ConfigError,
  configSecret,
  defineModule,
  downloadVerified,
  type FactProbe,
  fetchTailnetCertificate,
  fillUrl,
  goArch,
  type HostConfig,
  note,
  putFile,
  sha256,
  shipVerified,
  shScript,
  statusProbe,
  type Step,
  type StepContext,
  unitsProbe,
} from "../../mod.ts";
import {
  TAILSCALED_DEFAULTS,
  tailscaledUnit,
  tailscaleSourcesList,
} from "../../templates/tailscale.ts";
import {
  INSTALL_BINARY_SH as INSTALL_BINARY_SH_ONLY,
  INSTALL_KEYRING_SH as INSTALL_KEYRING_SH_ONLY,
  JOIN_SH,
} from "./programs.gen.ts";

/** Provided by install: tailscaled runs a new binary or unit; read by daemon, which restarts it. */
const RESTART = note<boolean>("tailscale restart");

export const KEYRING = "/usr/share/keyrings/tailscale-archive-keyring.gpg";
export const SOURCES_LIST = "/etc/apt/sources.list.d/tailscale.list";
export const BINARY_MARKER = "/usr/local/lib/djaploy/tailscale.sha256";
export const TAILSCALED_UNIT_PATH = "/etc/systemd/system/tailscaled.service";
export const TAILSCALED_DEFAULTS_PATH = "/etc/default/tailscaled";

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
  if (wrote || unit || defaults) ctx.shared.set(RESTART, true);
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
    } else if (ctx.shared.get(RESTART)) {
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
