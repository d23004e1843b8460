#!/usr/bin/env bash
# Prints the path of a Deno 2.9 binary, installing it from the npm registry
# into .tools/ when there is none (machines here have Node and npm, not Deno).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
local_deno=$root/.tools/node_modules/.bin/deno
if [ -x "$local_deno" ]; then echo "$local_deno"; exit 0; fi
if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q '^deno 2\.'; then
  command -v deno; exit 0
fi
npm install --silent --no-audit --no-fund --prefix "$root/.tools" deno@2.9.6 >&2
echo "$local_deno"
