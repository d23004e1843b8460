#!/usr/bin/env bash
# Runs every test: unit tests, then end-to-end tests that deploy to throwaway
# Debian servers (systemd-nspawn; needs root). Installs what it needs.
#   scripts/test.sh                 all tests
#   scripts/test.sh tests/shell_test.ts ...   only these
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deno=$(scripts/deno.sh)
if [ "$(id -u)" = 0 ]; then
  scripts/testhosts.sh deps
  scripts/testhosts.sh image >/dev/null
else
  echo "test.sh: not root: the end-to-end tests need root for their test servers and will fail" >&2
fi
# Each test tears its own hosts down (tests/e2e/harness); no blanket teardown here,
# which would also stop the hosts of another test run on this machine.
perms=(--allow-read --allow-write --allow-env --allow-net --allow-sys --allow-run)
if [ $# -gt 0 ]; then exec "$deno" test "${perms[@]}" "$@"; fi
# Unit tests first (a minute): a failure there shows before the end-to-end tests start.
mapfile -t units < <(find tests -name '*_test.ts' -not -path 'tests/e2e/*' | sort)
"$deno" test "${perms[@]}" "${units[@]}"
exec "$deno" test "${perms[@]}" tests/e2e/
