set -e
from=$1 to=$2
if [ "$(readlink -f -- "$to")" = "$(readlink -f -- "$from")" ]; then
  echo "djaploy: refusing to replace the live static folder $to" >&2
  exit 3
fi
rm -rf -- "$to.new"
mkdir -p -- "$to.new"
if [ -d "$from" ]; then cp -al -- "$from/." "$to.new/"; fi
rm -rf -- "$to"
mv -T -- "$to.new" "$to"
