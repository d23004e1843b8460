tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$1" -C "$tmp"
bin=$(find "$tmp" -type f -name litestream | head -n 1)
[ -n "$bin" ] || { echo "$1 holds no litestream program" >&2; exit 1; }
install -m 0755 "$bin" "$3"
