set -u
for f; do rm -f "$f.djaploy-old" "$f.djaploy-none"; done
for f; do
  if [ -e "$f.djaploy-new" ] || [ -L "$f.djaploy-new" ]; then
    if [ -e "$f" ] || [ -L "$f" ]; then mv -f "$f" "$f.djaploy-old"; else : > "$f.djaploy-none"; fi
    mv -f "$f.djaploy-new" "$f"
  fi
done
if out=$(nginx -t 2>&1); then
  for f; do rm -f "$f.djaploy-old" "$f.djaploy-none"; done
  systemctl reload-or-restart nginx
  exit $?
fi
for f; do
  if [ -e "$f.djaploy-none" ]; then rm -f "$f" "$f.djaploy-none"
  elif [ -e "$f.djaploy-old" ] || [ -L "$f.djaploy-old" ]; then mv -f "$f.djaploy-old" "$f"; fi
done
printf '%s\n' "$out" >&2
exit 3
