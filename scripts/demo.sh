#!/usr/bin/env bash
# Deploys examples/hello to a throwaway local Debian server and says how to
# reach it. Needs root (the server is a systemd-nspawn container).
#   scripts/demo.sh          boot, configure, deploy
#   scripts/demo.sh down     stop the demo server
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${1:-}" = down ]; then scripts/testhosts.sh down djdemo; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (the demo server is a systemd-nspawn container)" >&2; exit 1; }
deno=$(scripts/deno.sh)
scripts/testhosts.sh deps --demo
echo "== booting a throwaway Debian 12 server"
ip=$(scripts/testhosts.sh up djdemo 250)
key=$(scripts/testhosts.sh key)
app=examples/hello
cat >"$app/infra/inventory/demo.toml" <<TOML
# Written by scripts/demo.sh for its throwaway server.
[[hosts]]
name = "demo-1"
ssh_hostname = "$ip"
ssh_key = "$key"
known_hosts_file = "/tmp/djaploy-demo-known_hosts"
TOML
rm -f /tmp/djaploy-demo-known_hosts
export HELLO_SECRET_KEY=${HELLO_SECRET_KEY:-$(head -c 32 /dev/urandom | base64)}
# The V8 flags of the djaploy task (deno.json).
v8=$(grep -oE -- '--v8-flags=[^ "]+' "$root/deno.json")
djaploy() {
  (cd "$app" && "$deno" run --quiet --allow-read --allow-write --allow-env --allow-net --allow-sys=hostname,uid \
    --allow-run=ssh,rsync,git,tar,sh,setsid "$v8" "$root/cli.ts" "$@")
}
echo "== djaploy configure --env demo"
djaploy configure --env demo
echo "== djaploy deploy --env demo --latest"
djaploy deploy --env demo --latest
echo
echo "examples/hello is live: curl http://$ip/   (stop the server: scripts/demo.sh down)"
curl -fsS "http://$ip/" | grep -o '<h1[^<]*</h1>' || true
