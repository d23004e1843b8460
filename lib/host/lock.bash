lock=$1 owner=$2 wait=$3 timeout=$4
dir=${lock%/*}
mkdir -p "$dir"
case $(stat -c '%u:%A' "$dir") in 0:d????-??-?) ;; *)
  echo "refusing $dir: it must be owned by root and writable by root only" >&2; exit 78;;
esac
exec 9>>"$lock"
if [ "$wait" = 0 ]; then flock -n 9; else flock -w "$wait" 9; fi || {
  echo "HELD $(cat "$lock.owner" 2>/dev/null)"
  exit 75
}
started=$(cut -d' ' -f22 "/proc/$$/stat")
printf '%s %s %s\n' "$$" "$started" "$owner" > "$lock.owner"
echo LOCKED
if [ -n "$5" ]; then sh -c "$5" 9>&- </dev/null; printf '\n%s %s\n' "$6" "$?"; fi
while read -r -t "$timeout" n; do echo "beat $n"; done
rm -f "$lock.owner"
