for u; do
  [ -e "/etc/systemd/system/$u" ] || continue
  systemd-analyze security --no-pager "$u" 2>/dev/null |
    sed -n "s/^→ Overall exposure level for \([^:]*\): \([0-9.]*\) \([A-Z]*\).*/exposure \1 \2 \3/p"
done
