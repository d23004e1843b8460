#!/usr/bin/env bash
# Measures djaploy on a throwaway local test server and prints a Markdown
# table (docs/benchmarks.md records it). Needs root. Not a test: it asserts
# nothing, it measures.
#   scripts/bench.sh [runs]       runs per measurement (default 5; the median is reported)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-5}
deno=$(scripts/deno.sh)
scripts/testhosts.sh deps >/dev/null
ip=$(scripts/testhosts.sh up djbench 240)
key=$(scripts/testhosts.sh key)
work=$(mktemp -d)
trap '"$root/scripts/testhosts.sh" down djbench; rm -rf "$work"' EXIT

cp -r examples/hello "$work/app"
cd "$work/app"
rm -f infra/inventory/*.toml
cat >infra/inventory/bench.toml <<TOML
[[hosts]]
name = "bench-1"
ssh_hostname = "$ip"
ssh_key = "$key"
known_hosts_file = "$work/known_hosts"
TOML
git init -q -b main && git config user.name bench && git config user.email bench@example.test
git add -A && git commit -qm init
export HELLO_SECRET_KEY=bench-secret NO_COLOR=1
perms=(--allow-read --allow-write --allow-env --allow-net --allow-sys=hostname,uid --allow-run=ssh,rsync,git,tar,sh)
dj() { "$deno" run "${perms[@]}" "$root/cli.ts" "$@"; }

# One measurement: wall, user+sys CPU of djaploy and its children (ssh, rsync, git), and the
# ssh column of djaploy's summary (connections, commands, rsync transfers).
measure() {
  local out; out=$work/out.txt
  local t0 t1; t0=$(date +%s.%N)
  TIMEFORMAT='%U %S'; { time dj "$@" >"$out" 2>&1; } 2>"$work/cpu.txt"
  t1=$(date +%s.%N)
  local wall cpu ssh
  wall=$(echo "$t1 - $t0" | bc)
  cpu=$(awk '{print $1 + $2}' "$work/cpu.txt")
  ssh=$(grep -oE '[0-9]+ conn, [0-9]+ cmds, [0-9]+ rsync' "$out" | tail -1)
  echo "$wall $cpu $ssh"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

row() { # label, then the command
  local label=$1; shift
  local walls=() cpus=() ssh=""
  for _ in $(seq 1 "$runs"); do
    if [ -n "${BEFORE_EACH:-}" ]; then eval "$BEFORE_EACH"; fi
    read -r w c rest < <(measure "$@")
    walls+=("$w"); cpus+=("$c"); ssh=$rest
  done
  printf '| %s | %.2f s | %.2f s | %s |\n' "$label" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "$ssh"
}

dj configure --env bench >/dev/null
dj deploy --env bench >/dev/null
echo "| What (median of $runs) | Wall | CPU (djaploy + ssh/rsync/git) | SSH |"
echo "| --- | --- | --- | --- |"
row "configure, server already configured" configure --env bench
row "deploy in_place, nothing changed" deploy --env bench
n=0
BEFORE_EACH='n=$((n+1)); echo "Change $n" > pages/message.txt; git commit -qam "change $n"'
row "deploy in_place, one-line change (ends when the new text serves)" deploy --env bench
unset BEFORE_EACH
curl -fsS "http://$ip/" | grep -q "Change $n" || { echo "bench: the last change is not served" >&2; exit 1; }
helps=()
for _ in $(seq 1 "$runs"); do
  t0=$(date +%s.%N); dj --help >/dev/null; t1=$(date +%s.%N); helps+=("$(echo "$t1 - $t0" | bc)")
done
printf '| djaploy --help | %.2f s | | |\n' "$(printf '%s\n' "${helps[@]}" | median)"
