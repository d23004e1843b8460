set -e
umask 077
mkdir -p "$(dirname "$1")"
cat > "$1.djaploy-new"
chown root:root "$1.djaploy-new"
chmod "$2" "$1.djaploy-new"
