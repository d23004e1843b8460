#!/bin/sh
# Written by djaploy for one certbot run: hands the ACME challenge to djaploy and waits.
dir=$(dirname "$0")
req="$dir/$$"
printf '%s\n%s\n%s\n%s\n%s\n' "$1" "$CERTBOT_DOMAIN" "${CERTBOT_TOKEN:-}" \
  "${CERTBOT_VALIDATION:-}" "${CERTBOT_REMAINING_CHALLENGES:-0}" > "$req.tmp"
mv "$req.tmp" "$req.req"
i=0
while [ ! -f "$req.res" ]; do
  i=$((i + 1))
  if [ "$i" -gt 6000 ]; then echo "djaploy did not answer the $1 hook within 10 minutes" >&2; exit 1; fi
  sleep 0.1
done
status=$(head -n 1 "$req.res")
tail -n +2 "$req.res" >&2
rm -f "$req.res"
[ "$status" = ok ]
