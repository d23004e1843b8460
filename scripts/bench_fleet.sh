# shellcheck shell=bash disable=SC2016,SC2029,SC2154
# The fleet benchmark: `scripts/bench.sh fleet [runs] [host counts...]`. Sourced by
# scripts/bench.sh, whose helpers it uses (dj, median, key, work, hosts, cleanup).
#
# Boots as many hosts as the largest count asks for (zero_downtime, examples/hello), configures
# and deploys them once, then for each count N measures, on an environment of the first N hosts:
# a configure re-run, a redeploy with nothing changed, and a one-line change. For each run:
# - wall time of the whole djaploy command;
# - djaploy's own CPU (user + sys of the deno process, all its threads; the ssh, rsync and git it
#   runs not counted), as djaploy's -v prints it (getrusage of itself at exit); and with them
#   (GNU time: the process and every child it waited for);
# - djaploy's peak memory (its own maximum resident set size, from the same -v line);
# - SSH logins per host as the servers saw them: "Accepted publickey" lines in each host's sshd
#   journal before and after the run (the script's own commands go over one connection per host
#   opened beforehand, so they add none);
# - the hosts' own CPU during the run: on each host, the sum of utime + stime + cutime + cstime
#   over every process in its PID namespace (an exited process's CPU lands in its reaper's
#   cutime/cstime), before and after, less what the two readings and an idle host cost in the
#   same time (measured first). Their sum divided by the controller's cores is the floor: what
#   the servers must compute, were they as fast as this machine can run them.

fleet_ssh=(-i "$key" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=accept-new
  -o BatchMode=yes -o ControlMaster=auto -o "ControlPath=$work/cm-%h" -o ControlPersist=yes)
# Host names and addresses: djbf1 at 10.231.200.2, and so on.
fleet_prefix=${BENCH_FLEET_PREFIX:-djbf}
fleet_index=${BENCH_FLEET_INDEX:-200}
fon() { ssh "${fleet_ssh[@]}" "deploy@$1" "$2"; }

# What a host has used so far, in clock ticks (1/100 s), and how many logins sshd accepted.
FLEET_CPU='cat /proc/[0-9]*/stat 2>/dev/null | sed "s/.*) //" | awk "{t += \$12 + \$13 + \$14 + \$15} END {print t}"'
FLEET_LOGINS='sudo journalctl -q -o cat _COMM=sshd | grep -c "Accepted publickey" || true'

fleet_ips() { grep ssh_hostname "$1" | cut -d'"' -f2; }

# fleet_read IPS...: "ticks logins" per host, read at once, in order, into fleet_reading.
fleet_read() {
  local i=0 ip
  mkdir -p "$work/read"
  for ip in "$@"; do
    fon "$ip" "echo \$($FLEET_CPU) \$($FLEET_LOGINS)" >"$work/read/$i" &
    i=$((i + 1))
  done
  wait
  fleet_reading=()
  for ((i = 0; i < $#; i++)); do fleet_reading+=("$(cat "$work/read/$i")"); done
}

# fleet_delta BEFORE... -- AFTER...: total ticks and total logins between two readings.
fleet_delta() {
  awk -v n="$1" 'BEGIN {
    split(ARGV[2], a, "\n"); split(ARGV[3], b, "\n")
    for (i = 1; i <= n; i++) { split(a[i], x, " "); split(b[i], y, " "); t += y[1] - x[1]; l += y[2] - x[2] }
    print t, l; exit
  }' /dev/null "$(printf '%s\n' "${@:2:$1}")" "$(printf '%s\n' "${@:$(($1 + 2))}")"
}

# fleet_boot COUNT: boots COUNT hosts (8 at a time) and writes one environment per count asked.
fleet_boot() {
  local count=$1 dir=$work/fleet i
  rm -rf "$dir"
  cp -r examples/hello "$dir"
  rm -f "$dir"/infra/inventory/*.toml
  sed -i 's/^deployment_strategy = .*/deployment_strategy = "zero_downtime"/' "$dir/infra/djaploy.toml"
  mkdir -p "$work/ip"
  for i in $(seq 1 "$count"); do
    hosts+=("$fleet_prefix$i")
    # Once more on failure, as the e2e harness does: under load a boot may fail a unit
    # (systemd-user-sessions) that lets the deploy user log in.
    (scripts/testhosts.sh up "$fleet_prefix$i" $((fleet_index + i - 1)) >"$work/ip/$i" ||
      scripts/testhosts.sh up "$fleet_prefix$i" $((fleet_index + i - 1)) >"$work/ip/$i") &
    if ((i % 8 == 0)); then wait; fi
  done
  wait
  for i in $(seq 1 "$count"); do
    [ -s "$work/ip/$i" ] || { echo "bench: host $fleet_prefix$i did not boot" >&2; return 1; }
  done
}

# fleet_env N: the environment benchN, the first N hosts.
fleet_env() {
  local n=$1 i file=$work/fleet/infra/inventory/bench$1.toml
  : >"$file"
  for i in $(seq 1 "$n"); do
    printf '[[hosts]]\nname = "web-%s"\nssh_hostname = "%s"\nssh_key = "%s"\nknown_hosts_file = "%s/known_hosts"\n\n' \
      "$i" "$(cat "$work/ip/$i")" "$key" "$work" >>"$file"
  done
}

fleet_calibration() { calibration_line "$(fon "$1" "bash -c '$CALIBRATE' python3")"; }

# fleet_idle IPS...: ticks per host for a reading pair around `sleep 1` and `sleep 3`; sets
# fleet_overhead (ticks per host per reading pair) and fleet_idle_rate (ticks per host per second).
fleet_idle() {
  local before d1 d3
  fleet_read "$@"; before=("${fleet_reading[@]}"); sleep 1; fleet_read "$@"
  d1=$(fleet_delta $# "${before[@]}" "${fleet_reading[@]}" | cut -d' ' -f1)
  fleet_read "$@"; before=("${fleet_reading[@]}"); sleep 3; fleet_read "$@"
  d3=$(fleet_delta $# "${before[@]}" "${fleet_reading[@]}" | cut -d' ' -f1)
  fleet_idle_rate=$(echo "scale=4; ($d3 - $d1) / 2 / $#" | bc)
  fleet_overhead=$(echo "scale=4; $d1 / $# - $fleet_idle_rate" | bc)
  if [ "$(echo "$fleet_idle_rate < 0" | bc)" = 1 ]; then fleet_idle_rate=0; fi
  if [ "$(echo "$fleet_overhead < 0" | bc)" = 1 ]; then fleet_overhead=0; fi
}

# shellcheck source=scripts/bench_drains.sh
. "$root/scripts/bench_drains.sh"

# fleet_measure N ARGS...: one run; prints "wall cpu cpu_with_children peak_mb logins_per_host
# server_cpu_s djaploy_conn_per_host".
fleet_measure() {
  local n=$1 out=$work/out.txt before t0 t1 wall ticks logins; shift
  local ips; mapfile -t ips < <(fleet_ips "$work/fleet/infra/inventory/bench$n.toml")
  fleet_read "${ips[@]}"; before=("${fleet_reading[@]}")
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/time.txt" \
    "$deno" run "${perms[@]}" "$root/cli.ts" "$@" -v >"$out" 2>&1 </dev/null ||
    { cat "$out" >&2; echo "bench: a run failed" >&2; return 1; }
  t1=$(date +%s.%N)
  sleep 0.5 # the sshd sessions end and are reaped
  fleet_read "${ips[@]}"
  wall=$(echo "$t1 - $t0" | bc)
  read -r ticks logins <<<"$(fleet_delta "$n" "${before[@]}" "${fleet_reading[@]}")"
  printf '%s %s %s %s %s %s %s\n' "$wall" \
    "$(grep -oE 'djaploy used [0-9.]+ s of CPU' "$out" | grep -oE '[0-9.]+')" \
    "$(awk '{print $1 + $2}' "$work/time.txt")" \
    "$(grep -oE 'CPU and [0-9]+ MB of memory' "$out" | grep -oE '[0-9]+')" \
    "$(echo "scale=2; $logins / $n" | bc)" \
    "$(echo "scale=3; ($ticks - $n * ($fleet_overhead + $fleet_idle_rate * ($wall + 0.5))) / 100" | bc)" \
    "$(grep -oE '^web-[0-9]+ .* [0-9]+ conn,' "$out" | grep -oE '[0-9]+ conn' | sort | uniq -c |
      awk '{printf "%s%s on %s", s, $2 " " $3, $1 " host" ($1 == 1 ? "" : "s"); s = "; "}')"
}

declare -A fleet_cpu1
# fleet_row N LABEL CHANGE ARGS...
fleet_row() {
  local n=$1 label=$2 change=$3 k m w c t p l s conn walls="" cpus="" totals="" peaks="" logins="" servers=""
  shift 3
  local ips; mapfile -t ips < <(fleet_ips "$work/fleet/infra/inventory/bench$n.toml")
  for k in $(seq 1 "$runs"); do
    if [ "$change" = 1 ]; then
      echo "Change $k $RANDOM" >"$work/fleet/pages/message.txt"
      (cd "$work/fleet" && git commit -qam "change $k")
    fi
    drains_quiet fon "${ips[@]}"
    m=$(cd "$work/fleet" && fleet_measure "$n" "$@")
    read -r w c t p l s conn <<<"$m"
    walls+="$w"$'\n'; cpus+="$c"$'\n'; totals+="$t"$'\n'; peaks+="$p"$'\n'; logins+="$l"$'\n'; servers+="$s"$'\n'
  done
  local mw mc ms per="" floor
  mw=$(echo "$walls" | median); mc=$(echo "$cpus" | median); ms=$(echo "$servers" | median)
  if [ "$n" = 1 ]; then fleet_cpu1[$label]=$mc; fi
  if [ "$n" != 1 ] && [ -n "${fleet_cpu1[$label]:-}" ]; then
    per=$(printf '%.1f ms' "$(echo "($mc - ${fleet_cpu1[$label]}) * 1000 / ($n - 1)" | bc -l)")
  fi
  floor=$(echo "scale=3; $ms / $(nproc)" | bc)
  printf '| %s: %s | %.2f s | %.2f s | %s | %.2f s | %s MB | %s | %s | %.2f s | %.2f s | %.2f |\n' \
    "$n host$([ "$n" = 1 ] || echo s)" "$label" "$mw" "$mc" "${per:--}" "$(echo "$totals" | median)" "$(echo "$peaks" | median)" \
    "$(echo "$logins" | median)" "${conn:-?}" "$ms" "$floor" \
    "$(if [ "$(echo "$floor > 0" | bc)" = 1 ]; then echo "$mw / $floor" | bc -l; else echo 0; fi)"
}

# Ends the script's own connections to the hosts.
fleet_close() {
  local s
  for s in "$work"/cm-*; do [ -S "$s" ] && ssh -o "ControlPath=$s" -O exit x >/dev/null 2>&1; done
  return 0
}

fleet_main() {
  local counts=() max=0 n
  trap 'fleet_close; cleanup' EXIT
  read -ra counts <<<"$*"
  for n in "${counts[@]}"; do ((n > max)) && max=$n; done
  echo "fleet: memory before booting: $(free -m | awk '/^Mem:/ {print $3}') MB used"
  fleet_boot "$max"
  for n in "${counts[@]}" "$max"; do fleet_env "$n"; done
  echo "fleet: memory with $max hosts booted: $(free -m | awk '/^Mem:/ {print $3}') MB used"
  (cd "$work/fleet" && git init -q -b main && git config user.name bench &&
    git config user.email bench@example.test && git add -A && git commit -qm init)
  (cd "$work/fleet" && dj configure --env "bench$max" >/dev/null)
  (cd "$work/fleet" && dj deploy --env "bench$max" >/dev/null)
  echo "fleet: memory with $max hosts serving: $(free -m | awk '/^Mem:/ {print $3}') MB used"
  local ips; mapfile -t ips < <(fleet_ips "$work/fleet/infra/inventory/bench$max.toml")
  fleet_calibration "${ips[0]}"
  echo
  echo "| What (median of $runs runs) | Wall | CPU: djaploy | CPU per extra host | CPU: with ssh, rsync, git | Peak memory | SSH logins per host (sshd) | djaploy's count | Hosts' CPU | Floor (÷ $(nproc) cores) | Wall ÷ floor |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in "${counts[@]}"; do
    mapfile -t ips < <(fleet_ips "$work/fleet/infra/inventory/bench$n.toml")
    fleet_idle "${ips[@]}"
    fleet_row "$n" "configure re-run" 0 configure --env "bench$n"
    (cd "$work/fleet" && dj deploy --env "bench$n" >/dev/null) # what is committed is live
    fleet_row "$n" "redeploy, nothing changed" 0 deploy --env "bench$n"
    fleet_row "$n" "one-line change" 1 deploy --env "bench$n"
  done
  echo
  echo "fleet: memory at the end: $(free -m | awk '/^Mem:/ {print $3}') MB used;" \
    "load average$(uptime | sed 's/.*load average//')"
}
