i=0
sleep 0.5
while [ $i -lt 150 ] && ss -xlH src "$2" 2>/dev/null | awk '$3 > 0 { found = 1 } END { exit !found }'; do
  sleep 0.2; i=$((i+1))
done
[ -n "$3" ] && [ "$(readlink "$3")" = "$2" ] && exit 0
systemctl stop "$1"
