tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$1" -C "$tmp"
for p in tailscale tailscaled; do
  f=$(find "$tmp" -type f -name "$p" | head -n 1)
  [ -n "$f" ] || { echo "$1 holds no $p program" >&2; exit 1; }
  install -m 0755 "$f" "$3/$p"
done
