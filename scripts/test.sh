#!/usr/bin/env bash
# Runs every test: unit tests and end-to-end tests that deploy to throwaway
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
# The run's output is kept so that the closing line can repeat deno's count in the
# plain form CI systems read, alone on the last line: "N passed, N failed, N skipped".
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0 skipped=0
run_tests() {
  local status=0
  "$deno" test "${perms[@]}" "$@" 2>&1 | tee "$log" || status=$?
  # deno's summary: "ok | 62 passed (6 steps) | 0 failed | 1 ignored (30m12s)"
  local summary
  summary=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1 || true)
  if [ -z "$summary" ]; then
    echo "test.sh: deno test printed no summary (exit $status)" >&2
    failed=$((failed + 1))
  else
    passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$summary")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$summary")))
    if grep -q ' ignored' <<<"$summary"; then
      skipped=$((skipped + $(sed -E 's/.* ([0-9]+) ignored.*/\1/' <<<"$summary")))
    fi
  fi
  return "$status"
}
closing() {
  echo "$passed passed, $failed failed, $skipped skipped"
}
status=0
if [ $# -gt 0 ]; then
  run_tests "$@" || status=$?
else
  # One deno test run for the unit and end-to-end tests: one summary of deno's, then ours (our
  # CI read the two runs whose output had two deno summaries as having run no test). The unit
  # tests alone, in a minute: scripts/test.sh $(find tests -name '*_test.ts' -not -path 'tests/e2e/*')
  run_tests tests/ || status=$?
fi
closing
if [ "$status" = 0 ] && [ "$failed" != 0 ]; then status=1; fi
exit "$status"
