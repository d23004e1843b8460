# systemctl restart UNIT (again after a CGROUP failure), as root; UNIT is $1.
# A host with cgroup v1 or a hybrid setup may fail to remove a unit's cgroup when it stops
# ("Failed to kill control group ... Input/output error"), then fail its next start at that step
# (exit status 219): tried again here, up to three more times after pauses of 0.25, 0.5 and
# 0.75 s, each announced on stdout. Any other failure ends it at once, with status 1.
unit=$1
for pause in 0.25 0.5 0.75 last; do
  systemctl restart -- "$unit" && exit 0
  [ "$pause" != last ] || exit 1
  [ "$(systemctl show --property=ExecMainStatus --value -- "$unit")" = 219 ] || exit 1
  echo "$unit failed at systemd's CGROUP step right after a stop: starting again"
  sleep "$pause"
  systemctl reset-failed -- "$unit" 2>/dev/null
done
