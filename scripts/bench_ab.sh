#!/usr/bin/env bash
# djaploy's own CPU per extra host, two versions side by side: boots HOSTS test hosts once,
# deploys them, then ROUNDS times runs a no-change redeploy of 1 host (3 times, the median) and of
# all, with A's cli.ts, then with B's (alternating, so that a machine's drift touches both alike).
# Needs root.
#   scripts/bench_ab.sh [--change] TREE_A TREE_B [HOSTS] [ROUNDS]   (default 32 hosts, 5 rounds)
# DENO_V8_FLAGS_A and DENO_V8_FLAGS_B, when set, are the V8 flags of A's and of B's runs, in place
# of the djaploy task's (--no-memory-reducer; "" for none): with two checkouts of one commit, that
# compares flags.
# --change: each run deploys a one-line change instead (committed just before it, once the
# drains of the run before have ended, as the fleet benchmark does).
# A tree is a checkout of djaploy, e.g. `git worktree add /tmp/before <commit>`. Its `-v` must
# print the CPU to the millisecond (since 36b3cfe). Not a test: it measures.
set -euo pipefail
change=0
if [ "${1:-}" = --change ]; then change=1; shift; fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) n=${3:-32} rounds=${4:-5}
deno=$(scripts/deno.sh)
scripts/testhosts.sh deps >/dev/null
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
v8=--no-memory-reducer # the djaploy task's (deno.json)
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
  (cd "$dir" && DENO_DIR=$work/cache-$side "$deno" run "${perms[@]}" "${with[@]}" "$1/cli.ts" deploy --env "$2" -v 2>&1 </dev/null) |
    grep -oE 'djaploy used [0-9.]+ s' | grep -oE '[0-9.]+'
}
# A tree's first run transpiles its TypeScript into Deno's cache (a few tenths of a second of CPU
# on a 1-host run): each tree runs once before the rounds.
for t in "$a" "$b"; do cpu "$t" e1 1 >/dev/null; done
# What a wait costs the controller's Deno moves through a day more than most changes: before and after.
echo "before: $("$deno" run "$root/scripts/bench_wake.ts" --line)"
echo "tree | CPU, 1 host | CPU, $n hosts"
for _ in $(seq 1 "$rounds"); do
  for t in "$a" "$b"; do
    sleep 1
    # The 1-host figure is subtracted from every pair: the median of 3 runs, so that one slow
    # run (0.28-0.45 s on this machine) does not move a pair by up to 5 ms per host.
    one=$(for _ in 1 2 3; do cpu "$t" e1 1; done | sort -n | sed -n 2p)
    sleep 2
    all=$(cpu "$t" "e$n" "$n")
    echo "$t $one $all" | tee -a "$work/raw"
  done
done
echo "after: $("$deno" run "$root/scripts/bench_wake.ts" --line)"
for t in "$a" "$b"; do
  grep "^$t " "$work/raw" | awk -v n="$n" '{print ($3 - $2) * 1000 / (n - 1)}' | sort -n |
    awk -v t="$t" '{v[NR] = $1} END {
      printf "%s: CPU per extra host, median of %d: %.1f ms (", t, NR, v[int((NR + 1) / 2)]
      for (i = 1; i <= NR; i++) printf "%s%.1f", (i > 1 ? " " : ""), v[i]
      print ")"
    }'
done
