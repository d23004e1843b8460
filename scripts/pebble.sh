#!/usr/bin/env bash
# A local ACME server for certificate tests and for trying djaploy's certificates out:
# Let's Encrypt's pebble, and pebble-challtestsrv answering its DNS (every name resolves
# to one address; DNS-01 TXT records are set through its management API).
#
#   scripts/pebble.sh start [IP]   start both (IP: where every name resolves, default 127.0.0.1);
#                                  prints the settings to use (ACME directory, CA bundle)
#   scripts/pebble.sh stop         stop what start started
#   scripts/pebble.sh status       exit 0 when pebble answers
#   scripts/pebble.sh root         print pebble's current issuing root (changes on every start)
#   scripts/pebble.sh env          print the settings again (shell variable lines)
#
# pebble ships no certificate for its own HTTPS listener: start makes a throwaway CA with
# openssl and a certificate for localhost, 127.0.0.1 and the controller's side of every test
# host's link (10.231.N.1), so that certbot on a test host can reach it too. Give certbot
# the CA with REQUESTS_CA_BUNDLE (djaploy: [certificates] acme_ca_bundle).
#
# pebble validates HTTP-01 on port 80 of the address the name resolves to (the test host's
# nginx), and DNS-01 by asking pebble-challtestsrv. Authorizations are never reused and no
# nonce is rejected on purpose, so every order really validates and runs are repeatable.
#
# Environment: DJAPLOY_PEBBLE_DIR (state, default /run/djaploy-pebble, or /tmp/djaploy-pebble-UID
# when not root), PEBBLE_PORT (14000), PEBBLE_MANAGEMENT_PORT (15000), CHALLTESTSRV_DNS_PORT
# (8053), CHALLTESTSRV_MANAGEMENT_PORT (8055).
set -euo pipefail

if [ "$(id -u)" = 0 ]; then default_dir=/run/djaploy-pebble; else default_dir=/tmp/djaploy-pebble-$(id -u); fi
DIR=${DJAPLOY_PEBBLE_DIR:-$default_dir}
PORT=${PEBBLE_PORT:-14000}
MPORT=${PEBBLE_MANAGEMENT_PORT:-15000}
DNS_PORT=${CHALLTESTSRV_DNS_PORT:-8053}
CPORT=${CHALLTESTSRV_MANAGEMENT_PORT:-8055}

die() { echo "pebble.sh: $*" >&2; exit 1; }

need() {
  local missing=()
  for p in pebble pebble-challtestsrv openssl curl; do command -v "$p" >/dev/null || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] || die "install ${missing[*]} (Debian: apt-get install pebble openssl curl)"
}

make_certs() {
  local sans="DNS:localhost,IP:127.0.0.1" i
  for i in $(seq 1 254); do sans="$sans,IP:10.231.$i.1"; done
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$DIR/ca.key" -out "$DIR/ca.pem" -subj "/CN=djaploy throwaway pebble CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$DIR/key.pem" -out "$DIR/cert.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' "$sans" >"$DIR/cert.ext"
  openssl x509 -req -in "$DIR/cert.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -extfile "$DIR/cert.ext" -out "$DIR/cert.pem" 2>/dev/null
  rm -f "$DIR/cert.csr" "$DIR/cert.ext"
}

print_env() {
  echo "ACME_DIRECTORY=https://127.0.0.1:$PORT/dir"
  echo "ACME_CA_BUNDLE=$DIR/ca.pem"
  echo "PEBBLE_ROOT_URL=https://127.0.0.1:$MPORT/roots/0"
  echo "CHALLTESTSRV_URL=http://127.0.0.1:$CPORT"
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

cmd_status() {
  alive pebble && curl -sf --cacert "$DIR/ca.pem" "https://127.0.0.1:$PORT/dir" >/dev/null
}

cmd_start() {
  local ip=${1:-127.0.0.1}
  need
  cmd_stop
  mkdir -p "$DIR"
  chmod 0700 "$DIR"
  make_certs
  cat >"$DIR/pebble.json" <<EOF
{"pebble": {"listenAddress": "0.0.0.0:$PORT", "managementListenAddress": "127.0.0.1:$MPORT",
  "certificate": "$DIR/cert.pem", "privateKey": "$DIR/key.pem", "httpPort": 80, "tlsPort": 443,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
  setsid pebble-challtestsrv -defaultIPv4 "$ip" -defaultIPv6 "" -dns01 "127.0.0.1:$DNS_PORT" \
    -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$CPORT" \
    >"$DIR/challtestsrv.log" 2>&1 </dev/null &
  echo $! >"$DIR/challtestsrv.pid"
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    setsid pebble -config "$DIR/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" \
    >"$DIR/pebble.log" 2>&1 </dev/null &
  echo $! >"$DIR/pebble.pid"
  local i
  for i in $(seq 1 100); do
    if cmd_status && curl -s -o /dev/null "http://127.0.0.1:$CPORT/"; then print_env; return; fi
    alive pebble || { tail -5 "$DIR/pebble.log" >&2; die "pebble did not start"; }
    alive challtestsrv || { tail -5 "$DIR/challtestsrv.log" >&2; die "pebble-challtestsrv did not start"; }
    sleep 0.1
  done
  die "pebble did not answer within 10 s (logs in $DIR)"
}

cmd_stop() {
  local name pid
  for name in pebble challtestsrv; do
    [ -f "$DIR/$name.pid" ] || continue
    pid=$(cat "$DIR/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/$name.pid"
  done
}

cmd_root() {
  curl -sf --cacert "$DIR/ca.pem" "https://127.0.0.1:$MPORT/roots/0" || die "pebble is not running"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  root) cmd_root ;;
  env) print_env ;;
  *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
