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

export const NEW = ".djaploy-new";

// $1 path, $2 mode. stdin: the content. umask 077 first: a key is never readable by others.
export const STAGE_SH = `set -e
umask 077
mkdir -p "$(dirname "$1")"
cat > "$1.djaploy-new"
chown root:root "$1.djaploy-new"
chmod "$2" "$1.djaploy-new"`;

// $1 link path, $2 target: stages a symlink.
export const STAGE_LINK_SH = `set -e
ln -sfn "$2" "$1.djaploy-new"`;

// $1 dir, $2 CN, $3 subjectAltName, $4 days: a self-signed certificate (pregenerate_certificates).
export const PREGENERATE_SH = `set -e
umask 077
mkdir -p "$1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$4" \\
  -subj "/CN=$2" -addext "subjectAltName=$3" \\
  -keyout "$1/privkey.pem.djaploy-new" -out "$1/fullchain.pem.djaploy-new" 2>/dev/null
chmod 0644 "$1/fullchain.pem.djaploy-new"`;

// $1 certificate (with its chain), $2 key, $3 dir: stages copies of a certificate the server
// already has (certbot's lineage, tailscale cert's files) when they differ from what is installed.
// Prints "staged" when it did, "present" when they were already in place; nothing without $1.
export const STAGE_COPY_SH = `set -e
[ -e "$1" ] || exit 0
umask 077
mkdir -p "$3"
if ! cmp -s "$1" "$3/fullchain.pem" || ! cmp -s "$2" "$3/privkey.pem"; then
  cp -L "$2" "$3/privkey.pem.djaploy-new"
  cp -L "$1" "$3/fullchain.pem.djaploy-new"
  chmod 0600 "$3/privkey.pem.djaploy-new"
  chmod 0644 "$3/fullchain.pem.djaploy-new"
  echo staged
else
  echo present
fi`;

/**
 * Swaps every staged `<file>.djaploy-new` in for its file, runs `nginx -t`;
 * passes: reloads nginx (starts it when stopped); fails: restores every file
 * (removing the ones that did not exist), prints nginx's complaint, exits 3.
 */
export const APPLY_BODY = `for f; do rm -f "$f.djaploy-old" "$f.djaploy-none"; done
for f; do
  if [ -e "$f.djaploy-new" ] || [ -L "$f.djaploy-new" ]; then
    if [ -e "$f" ] || [ -L "$f" ]; then mv -f "$f" "$f.djaploy-old"; else : > "$f.djaploy-none"; fi
    mv -f "$f.djaploy-new" "$f"
  fi
done
if out=$(nginx -t 2>&1); then
  for f; do rm -f "$f.djaploy-old" "$f.djaploy-none"; done
  systemctl reload-or-restart nginx
  exit $?
fi
for f; do
  if [ -e "$f.djaploy-none" ]; then rm -f "$f" "$f.djaploy-none"
  elif [ -e "$f.djaploy-old" ] || [ -L "$f.djaploy-old" ]; then mv -f "$f.djaploy-old" "$f"; fi
done
printf '%s\\n' "$out" >&2
exit 3`;

export const APPLY_SH = `set -u\n${APPLY_BODY}`;

/** Exit code of APPLY_SH when nginx -t failed and the previous files are back. */
export const APPLY_TEST_FAILED = 3;

/**
 * `systemctl reload nginx` returns before nginx has loaded anything: waits
 * (up to 10 s) until nginx on 127.0.0.1:443 serves each certificate file for
 * its name. Arguments: name and certificate file, pairs. Prints the names it
 * gave up on.
 */
export const WAIT_SERVED_SH = `while [ "$#" -ge 2 ]; do
  want=$(openssl x509 -in "$2" -noout -fingerprint -sha256 2>/dev/null)
  i=0
  while :; do
    got=$(openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
    [ -n "$want" ] && [ "$got" = "$want" ] && break
    i=$((i + 1))
    if [ "$i" -ge 100 ]; then echo "$1"; break; fi
    sleep 0.1
  done
  shift 2
done`;

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
${APPLY_BODY}
`;
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
