set -e
f=$1
[ -e "$f" ] && cp -p "$f" "$f.djaploy-old"
cat > "$f.djaploy-new"
chmod 0644 "$f.djaploy-new"
mv -f "$f.djaploy-new" "$f"
if ! why=$(sshd -t 2>&1); then
  if [ -e "$f.djaploy-old" ]; then mv -f "$f.djaploy-old" "$f"; else rm -f "$f"; fi
  printf '%s\n' "$why" >&2
  exit 1
fi
rm -f "$f.djaploy-old"
unit=ssh
systemctl cat ssh.service >/dev/null 2>&1 || unit=sshd
pid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null || true)

# The inodes of the sockets sshd ($pid) listens on, one per line.
listening() {
  ss -Htlnpe 2>/dev/null | grep -F "pid=$1," | grep -o 'ino:[0-9]*' | sort
}

old=
if [ -n "$pid" ] && [ "$pid" != 0 ] && command -v ss >/dev/null; then
  # Where systemd holds the listening sockets (ssh.socket), they stay open across a reload.
  if ! ss -Htlnp 2>/dev/null | grep -F "pid=$pid," | grep -qF '"systemd",pid=1,'; then
    old=$(listening "$pid")
  fi
fi
systemctl reload "$unit"
[ -n "$old" ] || exit 0
# sshd re-executes itself on SIGHUP and opens its listening sockets anew: a login
# tried in between is refused. Return once it listens on as many new sockets.
n=$(printf '%s\n' "$old" | wc -l)
i=0
while [ "$i" -lt 100 ]; do
  new=$(listening "$pid")
  if [ -n "$new" ] && [ "$(printf '%s\n' "$new" | wc -l)" -ge "$n" ] &&
    ! printf '%s\n' "$new" | grep -qFx "$old"; then
    exit 0
  fi
  sleep 0.1
  i=$((i + 1))
done
echo "sshd ($unit.service) did not listen again within 10 s of its reload: see systemctl status $unit" >&2
exit 1
