set -e
f=$1
[ -e "$f" ] && cp -p "$f" "$f.djaploy-old"
cat > "$f.djaploy-new"
chmod 0644 "$f.djaploy-new"
mv -f "$f.djaploy-new" "$f"
if ! sshd -t 2>/tmp/djaploy-sshd-t; then
  if [ -e "$f.djaploy-old" ]; then mv -f "$f.djaploy-old" "$f"; else rm -f "$f"; fi
  cat /tmp/djaploy-sshd-t >&2
  exit 1
fi
rm -f "$f.djaploy-old"
systemctl reload ssh 2>/dev/null || systemctl reload sshd
