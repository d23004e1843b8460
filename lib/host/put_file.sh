set -e
umask 077
mkdir -p "$(dirname "$1")"
tmp="$1.djaploy-new"
cat > "$tmp"
chown "$2" "$tmp"
chmod "$3" "$tmp"
mv -f "$tmp" "$1"
