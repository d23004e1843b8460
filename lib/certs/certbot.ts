/**
 * certbot's command lines (pure builders) and what its failures mean. The
 * controller runs `certbot certonly --manual` with djaploy's hooks and its
 * own folders under the local store (never /etc/letsencrypt); a server runs
 * `certbot certonly --webroot` into the nginx module's ACME webroot.
 */
import type { CertStore } from "./store.ts";

export const LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export interface IssueRequest {
  /** The lineage's name (the domain's `name`). */
  readonly name: string;
  /** Every name on the certificate, `name` first. */
  readonly names: readonly string[];
  readonly email: string;
  readonly server: string;
}

function common(req: IssueRequest): string[] {
  return [
    "certonly",
    "--non-interactive",
    "--agree-tos",
    "--email",
    req.email,
    "--no-eff-email",
    "--server",
    req.server,
    "--cert-name",
    req.name,
    // djaploy decides what is due (renew_before_days); certbot must not second-guess it.
    "--force-renewal",
    "--key-type",
    "ecdsa",
    "--max-log-backups",
    "20",
    ...req.names.flatMap((n) => ["-d", n]),
  ];
}

/** The controller's certbot: manual challenges answered by djaploy's hooks, folders in the store. */
export function controllerCertbotArgs(
  req: IssueRequest,
  opts: {
    store: CertStore;
    challenge: "http" | "dns";
    authHook: string;
    cleanupHook: string;
  },
): string[] {
  return [
    ...common(req),
    "--config-dir",
    opts.store.configDir,
    "--work-dir",
    opts.store.workDir,
    "--logs-dir",
    opts.store.logsDir,
    "--manual",
    "--preferred-challenges",
    opts.challenge === "dns" ? "dns" : "http",
    "--manual-auth-hook",
    opts.authHook,
    "--manual-cleanup-hook",
    opts.cleanupHook,
  ];
}

/** A server's certbot: HTTP-01 through nginx's ACME webroot; the deploy hook installs for nginx. */
export function serverCertbotArgs(
  req: IssueRequest,
  opts: { webroot: string; deployHook: string },
): string[] {
  return [
    "certbot",
    ...common(req),
    "--webroot",
    "--webroot-path",
    opts.webroot,
    "--deploy-hook",
    opts.deployHook,
  ];
}

/**
 * The part of certbot's error output a person can act on: the CA's problem
 * per domain, or the last meaningful lines. Never contains key material
 * (certbot prints none).
 */
export function certbotProblem(output: string): string {
  const lines = output.split("\n").map((l) => l.trimEnd());
  const detail: string[] = [];
  for (const [i, line] of lines.entries()) {
    const m = /^\s*(Domain|Type|Detail):\s*(.*)$/.exec(line);
    if (m) detail.push(`${m[1]}: ${m[2]}`);
    if (/^An unexpected error occurred:/.test(line) && lines[i + 1]) detail.push(lines[i + 1]);
    if (/hook command .* returned error code/.test(line)) detail.push(line.trim());
    if (/^Error output from .*hook/.test(line) && lines[i + 1]) detail.push(lines[i + 1].trim());
  }
  if (detail.length) return [...new Set(detail)].join("; ");
  const noise =
    /^(Saving debug log|Ask for help|See the logfile|Some challenges have failed|- - -)/;
  const meaningful = lines.map((l) => l.trim()).filter((l) => l !== "" && !noise.test(l));
  return meaningful.slice(-3).join("; ") || "certbot failed without saying why";
}
