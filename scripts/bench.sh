#!/usr/bin/env bash
# Measures djaploy on throwaway local test servers and prints Markdown tables
# (docs/benchmarks.md records them). Needs root. Not a test: it asserts
# nothing, it measures.
#   scripts/bench.sh [runs]       runs per measurement (default 5; the median is reported)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-5}
deno=$(scripts/deno.sh)
scripts/testhosts.sh deps >/dev/null
work=$(mktemp -d)
hosts=()
cleanup() {
  for h in "${hosts[@]}"; do "$root/scripts/testhosts.sh" down "$h" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
key=$(scripts/testhosts.sh key)
perms=(--allow-read --allow-write --allow-env --allow-net --allow-sys=hostname,uid --allow-run=ssh,rsync,git,tar,sh)
export HELLO_SECRET_KEY=bench-secret NO_COLOR=1

# project NAME STRATEGY HOSTCOUNT: boots hosts, makes a git project, configures and deploys it.
project() {
  local name=$1 strategy=$2 count=$3 dir=$work/$1 i
  cp -r examples/hello "$dir"
  rm -f "$dir"/infra/inventory/*.toml
  sed -i "s/^deployment_strategy = .*/deployment_strategy = \"$strategy\"/" "$dir/infra/djaploy.toml"
  for i in $(seq 1 "$count"); do
    local h="djb${name:0:3}$i" idx=$((200 + ${#hosts[@]}))
    hosts+=("$h")
    local ip; ip=$(scripts/testhosts.sh up "$h" "$idx")
    printf '[[hosts]]\nname = "web-%s"\nssh_hostname = "%s"\nssh_key = "%s"\nknown_hosts_file = "%s/known_hosts"\n\n' \
      "$i" "$ip" "$key" "$work" >>"$dir/infra/inventory/bench.toml"
  done
  (cd "$dir" && git init -q -b main && git config user.name bench && git config user.email bench@example.test &&
    git add -A && git commit -qm init)
  (cd "$dir" && dj configure --env bench >/dev/null && dj deploy --env bench --activate >/dev/null)
}
dj() { "$deno" run "${perms[@]}" "$root/cli.ts" "$@"; }

# measure DIR ARGS...: wall seconds, CPU seconds (djaploy + ssh/rsync/git), and the summary's ssh column.
measure() {
  local dir=$1; shift
  local t0 t1 out=$work/out.txt
  t0=$(date +%s.%N)
  # The redirections go inside the subshell: on `time ( ... ) >f 2>&1` bash drops the timing.
  TIMEFORMAT='%U %S'; { time (cd "$dir" && dj "$@" >"$out" 2>&1); } 2>"$work/cpu.txt"
  t1=$(date +%s.%N)
  grep -q ' ok ' "$out" || { cat "$out" >&2; echo "bench: a run failed" >&2; exit 1; }
  printf '%s %s %s\n' "$(echo "$t1 - $t0" | bc)" "$(awk '{print $1 + $2}' "$work/cpu.txt")" \
    "$(grep -oE '[0-9]+ conn, [0-9]+ cmds, [0-9]+ rsync( \([0-9]+ [kM]?B\))?' "$out" | tail -1)"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# row LABEL DIR CHANGE ARGS...: CHANGE=1 commits a one-line change before each run.
row() {
  local label=$1 dir=$2 change=$3; shift 3
  local walls=() cpus=() ssh="" w c rest
  for n in $(seq 1 "$runs"); do
    if [ "$change" = 1 ]; then
      echo "Change $n $RANDOM" >"$dir/pages/message.txt"
      (cd "$dir" && git commit -qam "change $n")
    fi
    read -r w c rest < <(measure "$dir" "$@")
    walls+=("$w"); cpus+=("$c"); ssh=$rest
  done
  if [ "$change" = 1 ]; then
    local ip; ip=$(grep -m1 ssh_hostname "$dir/infra/inventory/bench.toml" | cut -d'"' -f2)
    curl -fsS "http://$ip/" | grep -q "Change $runs" || { echo "bench: $label: the last change is not served" >&2; exit 1; }
  fi
  printf '| %s | %.2f s | %.2f s | %s |\n' "$label" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "$ssh"
}

project inp in_place 1
project zdt zero_downtime 1
project blg bluegreen 1
project zd4 zero_downtime 4

echo "| What (median of $runs runs) | Wall | CPU (djaploy + ssh/rsync/git) | SSH per host |"
echo "| --- | --- | --- | --- |"
row "configure, server already configured" "$work/inp" 0 configure --env bench
row "in_place: redeploy, nothing changed" "$work/inp" 0 deploy --env bench
row "in_place: one-line change, until it serves" "$work/inp" 1 deploy --env bench
row "zero_downtime: redeploy, nothing changed (already live)" "$work/zdt" 0 deploy --env bench
row "zero_downtime: one-line change, until it serves" "$work/zdt" 1 deploy --env bench
row "zero_downtime, 4 hosts: one-line change, until it serves" "$work/zd4" 1 deploy --env bench
row "bluegreen: deploy --activate of a one-line change" "$work/blg" 1 deploy --env bench --activate
row "bluegreen: redeploy, nothing changed (already live)" "$work/blg" 0 deploy --env bench --activate
helps=()
for _ in $(seq 1 "$runs"); do
  t0=$(date +%s.%N); dj --help >/dev/null; t1=$(date +%s.%N); helps+=("$(echo "$t1 - $t0" | bc)")
done
printf '| djaploy --help | %.2f s | | |\n' "$(printf '%s\n' "${helps[@]}" | median)"
