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
# Each line is a heartbeat N (answered "beat N"), or "run MARK SCRIPT_BYTES INPUT_BYTES" followed by
# the script and its input, raw: the script runs as root like this shell, its input on stdin; out
# come "MARK start", its stdout, a newline and MARK, its stderr, a newline and "MARK CODE".
errors=$(mktemp "$dir/.held-stderr.XXXXXX") || exit 1
trap 'rm -f "$errors"' EXIT
while read -r -t "$timeout" n; do
  case $n in
    run\ *)
      read -r _ mark size insize <<<"$n"
      LC_ALL=C read -r -N "$size" script || exit 1
      input=
      if [ "$insize" != 0 ]; then LC_ALL=C read -r -N "$insize" input || exit 1; fi
      echo "$mark start"
      if [ "$insize" = 0 ]; then
        bash -c "$script" 2>"$errors" 9>&- </dev/null
      else
        printf '%s' "$input" | bash -c "$script" 2>"$errors" 9>&-
      fi
      code=$?
      printf '\n%s\n' "$mark"
      cat "$errors"
      printf '\n%s %s\n' "$mark" "$code"
      ;;
    *) echo "beat $n" ;;
  esac
done
rm -f "$lock.owner"
