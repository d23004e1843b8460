cd "$1" || exit 0
for f in "$2"-*.service "$2"-*.timer; do
  [ -f "$f" ] && grep -qxF -- "$3" "$f" && printf '%s\n' "$f"
done; true
