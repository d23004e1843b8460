lock=$1 pid=$2 started=$3
case $pid in ''|0*|*[!0-9]*) echo "not-holder the PID is not a number"; exit 0;; esac
flock -n "$lock" true && { echo gone; exit 0; }
[ -d "/proc/$pid" ] || { echo "not-holder no process $pid runs"; exit 0; }
[ "$(readlink "/proc/$pid/fd/9")" = "$lock" ] || {
  echo "not-holder process $pid does not have the lock file open"; exit 0; }
if [ -n "$started" ] && [ "$(cut -d' ' -f22 "/proc/$pid/stat")" != "$started" ]; then
  echo "not-holder process $pid started at another time than the holder"; exit 0
fi
kill -TERM "$pid" 2>/dev/null || { echo gone; exit 0; }
i=0
while [ $i -lt 50 ]; do
  if flock -n "$lock" rm -f "$lock.owner"; then echo freed; exit 0; fi
  sleep 0.1; i=$((i + 1))
done
echo still-held
