for d in "$1"/*/; do [ -d "$d" ] || continue; n=${d%/}; n=${n##*/}
if [ -f "$d.djaploy-failed" ]; then printf '%s\tfailed\n' "$n"
else printf '%s\t%s\n' "$n" "$(tr -d '\n' < "$d.djaploy-release.json" 2>/dev/null)"; fi; done; true
