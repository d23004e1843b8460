# shellcheck shell=bash
# Sourced by the benchmarks (scripts/bench_fleet.sh, scripts/bench_ab.sh): a timed deploy starts
# only once the drains of the run before have ended, as a team's next deploy usually would.

# drains_quiet RUN IPS...: waits (up to 30 s a host) until no djaploy-drain-* unit is active on
# any of IPS, then a second. `RUN IP COMMAND` runs a command on a host.
drains_quiet() {
  local run=$1 ip
  shift
  for ip in "$@"; do
    for _ in $(seq 1 150); do
      [ -z "$("$run" "$ip" "systemctl list-units --no-legend --state=active 'djaploy-drain-*'")" ] && break
      sleep 0.2
    done
  done
  sleep 1
}
