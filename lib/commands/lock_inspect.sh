lock=$1 owner=$1.owner
case $(stat -c '%u:%A' "${lock%/*}" 2>/dev/null) in 0:d????-??-?) ;; *) echo free; exit 0;; esac
[ -e "$lock" ] || { echo free; exit 0; }
if flock -n "$lock" true; then
  flock -n "$lock" rm -f "$owner"
  echo free
  exit 0
fi
echo held
if [ -f "$owner" ] && [ ! -L "$owner" ]; then head -c 4096 "$owner"; fi
