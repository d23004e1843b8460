set -e
u=$1
h=$(getent passwd "$u" | cut -d: -f6)
g=$(id -gn "$u")
install -d -m 0700 -o "$u" -g "$g" "$h/.ssh"
f=$h/.ssh/authorized_keys
touch "$f"
if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi
cat >> "$f"
chown "$u:$g" "$f"
chmod 0600 "$f"
