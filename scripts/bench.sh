#!/usr/bin/env bash
# Measures djaploy on throwaway local test servers and prints Markdown tables
# (docs/benchmarks.md records them). Needs root. Not a test: it asserts
# nothing, it measures.
#   scripts/bench.sh [runs] [pattern]   runs per measurement (default 5; the median is
#                                       reported); only the rows whose label matches pattern
#   scripts/bench.sh fleet [runs] [host counts...]
#                                       the fleet benchmark (default: 3 runs, 1 and 4 hosts;
#                                       16 and 32 hosts are opt-in: `fleet 3 1 4 16 32`)
#
# Before each timed run the script waits until the servers are quiet: the
# previous deploy's old slot has finished draining in the background, and a
# second has passed.
set -euo pipefail
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fleet=0
if [ "${1:-}" = fleet ]; then fleet=1; shift; fi
runs=${1:-5}
only=${2:-}
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
# The V8 flags of the djaploy task (deno.json), as users run it.
# shellcheck disable=SC2054 # commas inside the --allow-run value
perms=(--allow-read --allow-write --allow-env --allow-net --allow-sys=hostname,uid --allow-run=ssh,rsync,git,tar,sh,setsid
  "$(grep -oE -- '--v8-flags=[^ "]+' deno.json)")
export HELLO_SECRET_KEY=bench-secret NO_COLOR=1

dj() { "$deno" run "${perms[@]}" "$root/cli.ts" "$@"; }
ips() { grep ssh_hostname "$1/infra/inventory/bench.toml" | cut -d'"' -f2; }
on() { ssh -i "$key" -o UserKnownHostsFile="$work/known_hosts" -o BatchMode=yes "deploy@$1" "$2"; }

# project NAME STRATEGY HOSTCOUNT [deploy]: boots hosts, makes a git project, configures it (and deploys).
project() {
  local name=$1 strategy=$2 count=$3 deploy=${4:-deploy} dir=$work/$1 i
  rm -rf "$dir"
  cp -r examples/hello "$dir"
  rm -f "$dir"/infra/inventory/*.toml
  sed -i "s/^deployment_strategy = .*/deployment_strategy = \"$strategy\"/" "$dir/infra/djaploy.toml"
  for i in $(seq 1 "$count"); do
    local h="djb${name:0:3}$i" idx=$((200 + ${#hosts[@]}))
    hosts+=("$h")
    local ip; ip=$(scripts/testhosts.sh up "$h" "$idx")
    printf '[[hosts]]\nname = "web-%s"\nssh_hostname = "%s"\nssh_key = "%s"\nknown_hosts_file = "%s/known_hosts"\n' \
      "$i" "$ip" "$key" "$work" >>"$dir/infra/inventory/bench.toml"
    # Projects named zk*: the classical key exchange instead of OpenSSH's post-quantum default.
    case $name in zk*) echo 'ssh_options = ["KexAlgorithms=curve25519-sha256"]' >>"$dir/infra/inventory/bench.toml" ;; esac
    echo >>"$dir/infra/inventory/bench.toml"
  done
  (cd "$dir" && git init -q -b main && git config user.name bench && git config user.email bench@example.test &&
    git add -A && git commit -qm init)
  (cd "$dir" && dj configure --env bench >/dev/null)
  if [ "$deploy" = deploy ]; then (cd "$dir" && dj deploy --env bench --activate >/dev/null); fi
  # Once, on the first server booted: printed under the table.
  [ -n "$calibration" ] || calibration=$(calibration_line "$(on "$(ips "$dir" | head -n 1)" "bash -c '$CALIBRATE' python3")")
}

# quiet DIR: waits (at most 30 s) until no old slot is still draining on the project's hosts,
# then a second for what that check and the previous run leave behind to settle.
quiet() {
  local ip
  for ip in $(ips "$1"); do
    for _ in $(seq 1 150); do
      [ -z "$(on "$ip" "systemctl list-units --no-legend --state=active 'djaploy-drain-*'")" ] && break
      sleep 0.2
    done
  done
  sleep 1
}

# measure DIR ARGS...: prints wall seconds, djaploy's CPU seconds, CPU seconds with its
# children (ssh, rsync, git), and the summary's ssh column.
measure() {
  local dir=$1; shift
  local t0 t1 out=$work/out.txt
  t0=$(date +%s.%N)
  # The redirections go inside the subshell: on `time ( ... ) >f 2>&1` bash drops the timing.
  TIMEFORMAT='%U %S'; { time (cd "$dir" && dj "$@" -v >"$out" 2>&1); } 2>"$work/cpu.txt"
  t1=$(date +%s.%N)
  grep -q ' ok ' "$out" || { cat "$out" >&2; echo "bench: a run failed" >&2; return 1; }
  printf '%s %s %s %s\n' "$(echo "$t1 - $t0" | bc)" \
    "$(grep -oE 'djaploy used [0-9.]+ s of CPU' "$out" | grep -oE '[0-9.]+')" \
    "$(awk '{print $1 + $2}' "$work/cpu.txt")" \
    "$(grep -oE '[0-9]+ conn, [0-9]+ cmds, [0-9]+ rsync( \([0-9]+ [kM]?B\))?' "$out" | tail -1)"
}
median() { grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The machine's speed, printed beside the figures so that runs on machines of other speeds
# compare: the time and CPU of importing Django's ORM (the bulk of a Django start-up), 5 times;
# and what an idle wait costs the controller's Deno (scripts/bench_wake.ts), which every host's
# answers and processes pay and which differs between virtual machines far more than speed.
CALIBRATE='TIMEFORMAT="%R %U %S"; for i in 1 2 3 4 5; do { time $0 -c "import django.db.models"; } 2>&1; done'
calibration_medians() { awk '{print $1}' <<<"$1" | median | tr '\n' ' '; awk '{print $2 + $3}' <<<"$1" | median; }
# calibration_line HOST_TIMES: the line, from a test host's timings and the controller's own.
# bench_wake.ts runs with --no-code-cache: Deno keeps one code-cache entry per module, and a run
# under other V8 flags than the task's would replace the entries of Deno's Node modules, which the
# next timed djaploy run would then compile again (docs/benchmarks.md, "Deno's code cache").
calibration_line() {
  local here hw hc cw cc
  here=$(bash -c "$CALIBRATE" /usr/bin/python3)
  read -r hw hc <<<"$(calibration_medians "$1")"
  read -r cw cc <<<"$(calibration_medians "$here")"
  echo "calibration: python3 -c 'import django.db.models', median of 5: on a test host ${hw} s" \
    "(CPU ${hc} s), on the controller ${cw} s (CPU ${cc} s); $(nproc) cores;" \
    "load average$(uptime | sed 's/.*load average//');" \
    "$("$deno" run --no-code-cache "$root/scripts/bench_wake.ts" --line)"
}
calibration=""

# report LABEL SSH WALLS CPUS TOTALS: one table row from the runs' figures.
report() {
  printf '| %s | %.2f s | %.2f s | %.2f s | %s |\n' "$1" "$(echo "$3" | median)" \
    "$(echo "$4" | median)" "$(echo "$5" | median)" "$2"
}

# wanted LABEL: whether the row was asked for.
wanted() { [ -z "$only" ] || grep -qE -- "$only" <<<"$1"; }

# needs NAME STRATEGY HOSTCOUNT: the project a row measures, made the first time it is needed.
# The servers of other projects are stopped first: each row has the machine to itself.
needs() {
  [ -d "$work/$1" ] && return 0
  local h
  for h in "${hosts[@]}"; do scripts/testhosts.sh down "$h" >/dev/null; done
  hosts=()
  rm -rf "${work:?}"/inp "${work:?}"/zdt "${work:?}"/blg "${work:?}"/zd4 "${work:?}"/zk1 "${work:?}"/zk4 "${work:?}"/fst
  project "$@"
}

# row LABEL DIR CHANGE ARGS...: CHANGE=1 commits a one-line change before each run.
row() {
  local label=$1 dir=$2 change=$3; shift 3
  wanted "$label" || return 0
  case $(basename "$dir") in
    inp) needs inp in_place 1 ;;
    zdt) needs zdt zero_downtime 1 ;;
    blg) needs blg bluegreen 1 ;;
    zd4) needs zd4 zero_downtime 4 ;;
    zk1) needs zk1 zero_downtime 1 ;;
    zk4) needs zk4 zero_downtime 4 ;;
  esac
  local walls="" cpus="" totals="" ssh="" m w c t rest
  for n in $(seq 1 "$runs"); do
    if [ "$change" = 1 ]; then
      echo "Change $n $RANDOM" >"$dir/pages/message.txt"
      (cd "$dir" && git commit -qam "change $n")
    fi
    quiet "$dir"
    m=$(measure "$dir" "$@")
    read -r w c t rest <<<"$m"
    walls+="$w"$'\n'; cpus+="$c"$'\n'; totals+="$t"$'\n'; ssh=$rest
  done
  if [ "$change" = 1 ]; then
    local ip
    for ip in $(ips "$dir"); do
      curl -fsS "http://$ip/" | grep -q "Change $runs" || { echo "bench: $label: $ip does not serve the last change" >&2; return 1; }
    done
  fi
  report "$label" "$ssh" "$walls" "$cpus" "$totals"
}

# first_deploy LABEL STRATEGY: a first deploy onto a freshly configured server, on a new server each run.
first_deploy() {
  local label=$1 strategy=$2 walls="" cpus="" totals="" ssh="" m w c t rest
  wanted "$label" || return 0
  for _ in $(seq 1 "$runs"); do
    needs fst "$strategy" 1 configure-only
    m=$(measure "$work/fst" deploy --env bench)
    rm -rf "$work/fst" # a new server for the next run
    read -r w c t rest <<<"$m"
    walls+="$w"$'\n'; cpus+="$c"$'\n'; totals+="$t"$'\n'; ssh=$rest
  done
  report "$label" "$ssh" "$walls" "$cpus" "$totals"
}

if [ "$fleet" = 1 ]; then
  # shellcheck source=scripts/bench_fleet.sh
  . "$root/scripts/bench_fleet.sh"
  runs=${1:-3}
  shift $(($# > 0 ? 1 : 0))
  fleet_main "${@:-1 4}"
  exit 0
fi

echo "| What (median of $runs runs) | Wall | CPU: djaploy | CPU: with ssh, rsync, git | SSH per host |"
echo "| --- | --- | --- | --- | --- |"
row "configure, server already configured" "$work/inp" 0 configure --env bench
row "in_place: redeploy, nothing changed" "$work/inp" 0 deploy --env bench
row "in_place: one-line change, until it serves" "$work/inp" 1 deploy --env bench
row "zero_downtime: redeploy, nothing changed (already live)" "$work/zdt" 0 deploy --env bench
row "zero_downtime: one-line change, until it serves" "$work/zdt" 1 deploy --env bench
row "zero_downtime, 4 hosts: one-line change, until it serves" "$work/zd4" 1 deploy --env bench
row "zero_downtime with ssh_options KexAlgorithms=curve25519-sha256: one-line change" "$work/zk1" 1 deploy --env bench
row "zero_downtime, 4 hosts, with that ssh_options: one-line change" "$work/zk4" 1 deploy --env bench
row "bluegreen: deploy --activate of a one-line change" "$work/blg" 1 deploy --env bench --activate
row "bluegreen: redeploy, nothing changed (already live)" "$work/blg" 0 deploy --env bench --activate
first_deploy "zero_downtime: first deploy onto a configured server" zero_downtime
if wanted "djaploy --help"; then
  helps=""
  for _ in $(seq 1 "$runs"); do
    t0=$(date +%s.%N); dj --help >/dev/null; t1=$(date +%s.%N); helps+="$(echo "$t1 - $t0" | bc)"$'\n'
  done
  printf '| djaploy --help | %.2f s | | | |\n' "$(echo "$helps" | median)"
fi
[ -z "$calibration" ] || printf '\n%s\n' "$calibration"
