set -e
umask 077
tmp=/etc/sudoers.d/.djaploy-new
cat > "$tmp"
visudo -cqf "$tmp" || { rm -f "$tmp"; echo "visudo refused the rule" >&2; exit 1; }
chmod 0440 "$tmp"
mv -f "$tmp" "$1"
