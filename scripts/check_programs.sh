#!/usr/bin/env bash
# Checks the programs djaploy runs or installs on servers (the .py, .sh and
# .bash files under templates/, lib/ and modules/): their embedded copies
# (programs.gen.ts) are up to date, the Python compiles, and shellcheck
# finds nothing in the shell programs (.sh run under sh, dash on Debian;
# .bash under bash).
set -euo pipefail
cd "$(dirname "$0")/.."
deno=$(scripts/deno.sh)
"$deno" run --quiet --allow-read scripts/embed.ts --check
mapfile -t py < <(find templates lib modules -name '*.py' | sort)
mapfile -t sh < <(find templates lib modules -name '*.sh' | sort)
mapfile -t bash < <(find templates lib modules -name '*.bash' | sort)
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
PYTHONPYCACHEPREFIX=$cache python3 -m py_compile "${py[@]}"
shellcheck --shell=sh "${sh[@]}"
shellcheck --shell=bash "${bash[@]}"
echo "programs: ${#py[@]} Python, $((${#sh[@]} + ${#bash[@]})) shell: embedded copies up to date, checked"
