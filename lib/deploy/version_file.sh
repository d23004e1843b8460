f=$1
umask 022
new=$(cat)
mkdir -p "$(dirname "$f")"
if [ -f "$f" ] && [ "$(grep -v '^DEPLOYED_AT=' "$f")" = "$(printf '%s\n' "$new" | grep -v '^DEPLOYED_AT=')" ]; then echo unchanged; exit 0; fi
printf '%s\n' "$new" > "$f.djaploy-new" && mv -f "$f.djaploy-new" "$f" && echo written
