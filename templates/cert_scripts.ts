/**
 * Shell scripts the certificate steps run on a server (as root, through
 * `sh -c SCRIPT sh ARGS...`), and the files server-side renewal installs.
 *
 * Files change in two moves: each new file is first written next to its
 * place as `<path>.djaploy-new`, then APPLY_SH swaps all of them in at once,
 * runs `nginx -t`, and either reloads nginx or puts every file back as it
 * was, so that a bad certificate or site never replaces a working one.
 */
import { type Confinement, hardening } from "./hardening.ts";
import {
  CERT_APPLY_SH,
  CERT_PREGENERATE_SH,
  CERT_STAGE_COPY_SH,
  CERT_STAGE_LINK_SH,
  CERT_STAGE_SH,
  CERT_WAIT_SERVED_SH,
} from "./programs.gen.ts";

export const NEW = ".djaploy-new";

// $1 path, $2 mode. stdin: the content. umask 077 first: a key is never readable by others.
export const STAGE_SH = CERT_STAGE_SH;

// $1 link path, $2 target: stages a symlink.
export const STAGE_LINK_SH = CERT_STAGE_LINK_SH;

// $1 dir, $2 CN, $3 subjectAltName, $4 days: a self-signed certificate (pregenerate_certificates).
export const PREGENERATE_SH = CERT_PREGENERATE_SH;

// $1 certificate (with its chain), $2 key, $3 dir: stages copies of a certificate the server
// already has (certbot's lineage, tailscale cert's files) when they differ from what is installed.
// Prints "staged" when it did, "present" when they were already in place; nothing without $1.
export const STAGE_COPY_SH = CERT_STAGE_COPY_SH;

/**
 * Swaps every staged `<file>.djaploy-new` in for its file, runs `nginx -t`;
 * passes: reloads nginx (starts it when stopped); fails: restores every file
 * (removing the ones that did not exist), prints nginx's complaint, exits 3.
 */
export const APPLY_SH = CERT_APPLY_SH;

/** Exit code of APPLY_SH when nginx -t failed and the previous files are back. */
export const APPLY_TEST_FAILED = 3;

/**
 * `systemctl reload nginx` returns before nginx has loaded anything: waits
 * (up to 10 s) until nginx on 127.0.0.1:443 serves each certificate file for
 * its name. Arguments: name and certificate file, pairs. Prints the names it
 * gave up on.
 */
export const WAIT_SERVED_SH = CERT_WAIT_SERVED_SH;

export const DEPLOY_HOOK_PATH = "/usr/local/sbin/djaploy-cert-deploy";

/**
 * certbot's deploy hook on a server (issue_on = "server"): copies a renewed
 * lineage to /etc/djaploy/certs/<name>/ and reloads nginx, the same way
 * sync-certs does (restored when nginx -t fails).
 */
export function certDeployHook(certsDir: string): string {
  return `#!/bin/sh
# Written by djaploy: certbot runs it after each issuance or renewal (RENEWED_LINEAGE is set).
set -u
[ -n "\${RENEWED_LINEAGE:-}" ] || { echo "djaploy-cert-deploy: RENEWED_LINEAGE is not set" >&2; exit 2; }
dir=${certsDir}/$(basename "$RENEWED_LINEAGE")
umask 077
mkdir -p "$dir"
cp -L "$RENEWED_LINEAGE/privkey.pem" "$dir/privkey.pem.djaploy-new"
cp -L "$RENEWED_LINEAGE/fullchain.pem" "$dir/fullchain.pem.djaploy-new"
chmod 0600 "$dir/privkey.pem.djaploy-new"
chmod 0644 "$dir/fullchain.pem.djaploy-new"
set -- "$dir/fullchain.pem" "$dir/privkey.pem"
${APPLY_SH}`;
}

export const RENEW_UNIT = "djaploy-certbot-renew";

/** The oneshot service the renewal timer starts. */
export function renewService(opts: { caBundle?: string; confinement: Confinement }): string {
  const env = opts.caBundle ? `Environment=REQUESTS_CA_BUNDLE=${opts.caBundle}\n` : "";
  return `# Written by djaploy's cert_renewal module.
[Unit]
Description=Renew TLS certificates with certbot (djaploy)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
${env}ExecStart=/usr/bin/certbot renew --quiet --no-random-sleep-on-renew --deploy-hook ${DEPLOY_HOOK_PATH}
${hardening("certbot", opts.confinement)}`;
}

export function renewTimer(): string {
  return `# Written by djaploy's cert_renewal module.
[Unit]
Description=Renew TLS certificates twice a day (djaploy)

[Timer]
OnCalendar=*-*-* 03,15:00:00
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target
`;
}
