/**
 * The node's own certificate from `tailscale cert`: what the tailscale
 * module (which fetches it), the certs module (which installs it for nginx)
 * and `djaploy certs` share.
 */
import * as remotePath from "../remote_path.ts";
import { note, type StepContext } from "../engine/module_api.ts";
import type { FactProbe } from "../host/facts.ts";
import { shScript } from "../exec/remote_command.ts";
import { UserError } from "../errors.ts";
import { TAILNET_CERT_SH } from "./programs.gen.ts";

export const CERT_DIR = "/etc/djaploy/tailscale";

/** What `tailscale status --json` says about the node. */
export interface TailscaleState {
  /** Whether tailscale is installed. */
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

/** The node's tailscale state. */
export const statusProbe: FactProbe<TailscaleState> = {
  name: "tailscale",
  argv: shScript(
    "command -v tailscale >/dev/null || { echo missing; exit 0; }; tailscale status --json 2>/dev/null; true",
  ),
  parse: (out) => parseStatus(out),
};

/** Provided by fetchTailnetCertificate: the tailnet name whose certificate it fetched in this run. */
export const CERT_FETCHED = note<string>("tailscale cert");

/** Where `tailscale cert` puts the node's certificate (with its chain) and key. */
export function tailnetCertFiles(name: string): { cert: string; key: string } {
  return {
    cert: remotePath.join(CERT_DIR, `${name}.crt`),
    key: remotePath.join(CERT_DIR, `${name}.key`),
  };
}

// tailnet_cert.sh: $1 folder, $2 tailnet name. umask 077 before tailscale writes: the key
// is never readable by others, not even while it is written.
export const CERT_SH: string = TAILNET_CERT_SH;

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
  const fetched = ctx.shared.get(CERT_FETCHED);
  if (fetched !== undefined) return fetched;
  const name = await tailnetName(ctx);
  await ctx.exec.run({ argv: shScript(CERT_SH, CERT_DIR, name), as: "root" });
  ctx.shared.set(CERT_FETCHED, name);
  ctx.log.info(`certificate for ${name} in ${tailnetCertFiles(name).cert}`);
  return name;
}
