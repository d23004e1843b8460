#!/usr/bin/env bash
# djaploy's own CPU per extra host, two versions side by side: boots HOSTS test hosts once,
# deploys them, then ROUNDS times runs a no-change redeploy of 1 host (3 times, the median) and of
# all, with A's cli.ts, then with B's (alternating, so that a machine's drift touches both alike).
# Needs root.
#   scripts/bench_ab.sh [--change] [--instructions] TREE_A TREE_B [HOSTS] [ROUNDS]
#                                                    (default 32 hosts, 5 rounds)
# DENO_V8_FLAGS_A and DENO_V8_FLAGS_B, when set, are the V8 flags of A's and of B's runs, in place
# of the djaploy task's (deno.json; "" for none): with two checkouts of one commit, that
# compares flags.
# --change: each run deploys a one-line change instead (committed just before it, once the
# drains of the run before have ended, as the fleet benchmark does).
# --instructions: each run counts the instructions djaploy's process executes (all its threads;
# not its ssh, rsync and git) under valgrind's callgrind, instead of reading its CPU time. The count
# does not move with the machine's hour as CPU time does (the same run twice here: within 0.05 % for
# 1 host, 0.001 % for 8), so one round and one 1-host run say what many rounds of CPU time cannot;
# a run takes about 100 times as long. valgrind runs djaploy with LD_PRELOAD set, which Deno lets
# only a fully allowed --allow-run pass to ssh: in this mode, and only in it, --allow-run is not
# scoped. Instructions are not time: confirm a change with CPU time too.
# A tree is a checkout of djaploy, e.g. `git worktree add /tmp/before <commit>`. Its `-v` must
# print the CPU to the millisecond (since 36b3cfe). Not a test: it measures.
set -euo pipefail
change=0 instructions=0
while [ $# -gt 0 ]; do
  case $1 in
    --change) change=1; shift ;;
    --instructions) instructions=1; shift ;;
    *) break ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) n=${3:-32} rounds=${4:-5}
deno=$(scripts/deno.sh)
scripts/testhosts.sh deps >/dev/null
if [ "$instructions" = 1 ] && ! command -v valgrind >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
key=$(scripts/testhosts.sh key)
work=$(mktemp -d)
hosts=()
cleanup() {
  for h in "${hosts[@]}"; do scripts/testhosts.sh down "$h" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
dir=$work/p
cp -r examples/hello "$dir"
rm -f "$dir"/infra/inventory/*.toml
sed -i 's/^deployment_strategy = .*/deployment_strategy = "zero_downtime"/' "$dir/infra/djaploy.toml"
for i in $(seq 1 "$n"); do
  hosts+=("djab$i")
  (scripts/testhosts.sh up "djab$i" $((100 + i)) >"$work/ip$i" ||
    scripts/testhosts.sh up "djab$i" $((100 + i)) >"$work/ip$i") &
  if ((i % 8 == 0)); then wait; fi
done
wait
for count in 1 "$n"; do
  for i in $(seq 1 "$count"); do
    printf '[[hosts]]\nname = "web-%s"\nssh_hostname = "%s"\nssh_key = "%s"\nknown_hosts_file = "%s/known_hosts"\n\n' \
      "$i" "$(cat "$work/ip$i")" "$key" "$work"
  done >"$dir/infra/inventory/e$count.toml"
done
(cd "$dir" && git init -q -b main && git config user.name bench && git config user.email bench@example.test &&
  git add -A && git commit -qm init)
export HELLO_SECRET_KEY=bench-secret NO_COLOR=1
# shellcheck disable=SC2054 # commas inside the --allow-run value
perms=(--allow-read --allow-write --allow-env --allow-net --allow-sys=hostname,uid --allow-run=ssh,rsync,git,tar,sh,setsid)
v8=$(grep -oE -- '--v8-flags=[^ "]+' deno.json | cut -d= -f2-) # the djaploy task's (deno.json)
(cd "$dir" && "$deno" run "${perms[@]}" "--v8-flags=$v8" "$b/cli.ts" configure --env "e$n" >/dev/null &&
  "$deno" run "${perms[@]}" "--v8-flags=$v8" "$b/cli.ts" deploy --env "e$n" >/dev/null)
# shellcheck source=scripts/bench_drains.sh
. "$root/scripts/bench_drains.sh"
on() { ssh -i "$key" -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts" "deploy@$1" "$2"; }
# quiet COUNT: waits until the first COUNT hosts run no drain.
quiet() {
  local i ips=()
  for i in $(seq 1 "$1"); do ips+=("$(cat "$work/ip$i")"); done
  drains_quiet on "${ips[@]}"
}
# Each side runs with a Deno cache of its own, a copy of this one. V8's code cache, which Deno keeps
# there, is made for one set of the V8 flags that change compiled code (--always-sparkplug does,
# --no-memory-reducer does not): two sides alternating such flags in one cache would each throw the
# other's code away and compile it again, every run (0.06-0.07 s more for a 1-host run here).
cache=$("$deno" info --json | grep -oE '"denoDir": *"[^"]*"' | sed -E 's/.*: *"(.*)"/\1/')
cp -r "$cache" "$work/cache-a"
cp -r "$cache" "$work/cache-b"
# cpu TREE ENV COUNT: djaploy's own CPU seconds for a no-change redeploy (with --change: of a
# one-line change) of the first COUNT hosts.
cpu() {
  if [ "$change" = 1 ]; then
    (cd "$dir" && echo "Change $RANDOM$RANDOM" >pages/message.txt && git commit -qam change)
    quiet "$3"
  fi
  local flags=${DENO_V8_FLAGS_A-$v8} with=() side=a
  if [ "$1" = "$b" ]; then flags=${DENO_V8_FLAGS_B-$v8} side=b; fi
  if [ -n "$flags" ]; then with=("--v8-flags=$flags"); fi
  if [ "$instructions" = 1 ]; then
    # Millions of instructions, as valgrind's summary on stderr says them ("Collected : N").
    (cd "$dir" && DENO_DIR=$work/cache-$side valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      "$deno" run "${perms[@]/#--allow-run=*/--allow-run}" "${with[@]}" "$1/cli.ts" deploy --env "$2" 2>&1 </dev/null) |
      grep -oE 'Collected : [0-9]+' | awk '{printf "%.3f\n", $3 / 1e6}'
    return
  fi
  (cd "$dir" && DENO_DIR=$work/cache-$side "$deno" run "${perms[@]}" "${with[@]}" "$1/cli.ts" deploy --env "$2" -v 2>&1 </dev/null) |
    grep -oE 'djaploy used [0-9.]+ s' | grep -oE '[0-9.]+'
}
# A tree's first run transpiles its TypeScript into Deno's cache (a few tenths of a second of CPU
# on a 1-host run): each tree runs once before the rounds.
for t in "$a" "$b"; do cpu "$t" e1 1 >/dev/null; done
# What a wait costs the controller's Deno moves through a day more than most changes: before and after.
echo "before: $("$deno" run "$root/scripts/bench_wake.ts" --line)"
unit="CPU" per="ms" ones=3
if [ "$instructions" = 1 ]; then unit="M instructions" per="M instructions" ones=1; fi
echo "tree | $unit, 1 host | $unit, $n hosts"
for _ in $(seq 1 "$rounds"); do
  for t in "$a" "$b"; do
    sleep 1
    # The 1-host figure is subtracted from every pair: the median of 3 runs, so that one slow
    # run (0.28-0.45 s on this machine) does not move a pair by up to 5 ms per host.
    # (Instructions: one run, they do not move.)
    one=$(for _ in $(seq 1 "$ones"); do cpu "$t" e1 1; done | sort -n | sed -n "$(((ones + 1) / 2))p")
    sleep 2
    all=$(cpu "$t" "e$n" "$n")
    echo "$t $one $all" | tee -a "$work/raw"
  done
done
echo "after: $("$deno" run "$root/scripts/bench_wake.ts" --line)"
for t in "$a" "$b"; do
  scale=1000 digits=1
  if [ "$instructions" = 1 ]; then scale=1 digits=3; fi
  grep "^$t " "$work/raw" | awk -v n="$n" -v s="$scale" '{print ($3 - $2) * s / (n - 1)}' | sort -n |
    awk -v t="$t" -v u="$unit" -v p="$per" -v d="$digits" '{v[NR] = $1} END {
      printf "%s: %s per extra host, median of %d: %.*f %s (", t, u, NR, d, v[int((NR + 1) / 2)], p
      for (i = 1; i <= NR; i++) printf "%s%.*f", (i > 1 ? " " : ""), d, v[i]
      print ")"
    }'
done
