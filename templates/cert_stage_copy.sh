set -e
[ -e "$1" ] || exit 0
umask 077
mkdir -p "$3"
if ! cmp -s "$1" "$3/fullchain.pem" || ! cmp -s "$2" "$3/privkey.pem"; then
  cp -L "$2" "$3/privkey.pem.djaploy-new"
  cp -L "$1" "$3/fullchain.pem.djaploy-new"
  chmod 0600 "$3/privkey.pem.djaploy-new"
  chmod 0644 "$3/fullchain.pem.djaploy-new"
  echo staged
else
  echo present
fi
