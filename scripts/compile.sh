#!/usr/bin/env bash
# Builds djaploy as single binaries with `deno compile`, one per target, with
# the permissions djaploy needs baked in (never -A) and its V8 flags: the same
# flags as the `djaploy` task in deno.json, so `deno task djaploy` and the
# binaries can do exactly the same things. Writes dist/bin/djaploy-<version>-<target> and
# dist/bin/SHA256SUMS.
#
#   scripts/compile.sh                 every target
#   scripts/compile.sh TARGET...       some of them (see TARGETS below)
#   scripts/compile.sh --print [T...]  print the deno compile commands, build nothing
#
# deno compile downloads the Deno runtime for each target (denort, from
# dl.deno.land) on first use; where that host cannot be reached this script
# stops with a message saying so. DENORT_BIN (a denort binary for the one
# target given) skips the download.
#
# Compiled binaries cannot import modules that were not compiled in, so a
# project's own modules (infra/modules/*.ts) need `deno run` or dist/djaploy.js.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin)

print=0
if [ "${1:-}" = --print ]; then print=1; shift; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
for t in "${targets[@]}"; do
  case " ${TARGETS[*]} " in
    *" $t "*) ;;
    *) echo "compile.sh: unknown target \"$t\": choose from ${TARGETS[*]}" >&2; exit 2 ;;
  esac
done

deno=$(scripts/deno.sh)
# The permission and V8 flags of the `djaploy` task, read from deno.json (one source of truth).
mapfile -t flags < <("$deno" eval --quiet '
const task = JSON.parse(Deno.readTextFileSync("deno.json")).tasks.djaploy;
for (const word of task.split(/\s+/)) {
  if (word.startsWith("--allow-") || word.startsWith("--v8-flags=")) console.log(word);
}
')
for p in "${flags[@]}"; do
  case $p in
    --allow-all | --allow-run | --allow-run=) echo "compile.sh: refusing $p: list the programs djaploy runs" >&2; exit 2 ;;
  esac
done
printf '%s\n' "${flags[@]}" | grep -q '^--allow-' || { echo "compile.sh: no --allow-* flags in deno.json's djaploy task" >&2; exit 2; }
version=$("$deno" eval --quiet 'import { VERSION } from "./lib/version.ts"; console.log(VERSION)')

out=dist/bin
mkdir -p "$out"
built=()
for t in "${targets[@]}"; do
  bin="$out/djaploy-$version-$t"
  cmd=("$deno" compile --quiet --no-check "${flags[@]}" --target "$t" --output "$bin" cli.ts)
  if [ "$print" = 1 ]; then
    echo "${cmd[*]}"
    continue
  fi
  echo "compile.sh: $t -> $bin" >&2
  log=$(mktemp)
  if ! RUST_BACKTRACE=0 "${cmd[@]}" 2>"$log"; then
    if grep -q -e 'dl\.deno\.land' -e 'Setting up base binary' -e 'denort' "$log"; then
      reason=$(grep -E '^ *[0-9]+: ' "$log" | grep -v '<unknown>' | tail -n 1 | sed -E 's/^ *[0-9]+: //')
      echo "compile.sh: cannot download the Deno runtime for $t (deno compile fetches denort-$t.zip from dl.deno.land): $reason" >&2
      echo "hint: build on a machine that reaches dl.deno.land (the release workflow, .github/workflows/release.yml, does), or set DENORT_BIN to a denort binary for $t" >&2
    else
      cat "$log" >&2
    fi
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  built+=("$bin")
done
[ "$print" = 1 ] && exit 0

# Checksums of every binary in dist/bin, as `sha256sum -c` reads them.
(
  cd "$out"
  files=(djaploy-*)
  if command -v sha256sum >/dev/null; then sha256sum "${files[@]}"; else shasum -a 256 "${files[@]}"; fi
) >"$out/SHA256SUMS"
echo "compile.sh: built ${#built[@]} binaries; checksums in $out/SHA256SUMS" >&2
