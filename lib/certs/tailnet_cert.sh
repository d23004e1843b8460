set -e
install -d -m 0755 "$1"
umask 077
tailscale cert --cert-file "$1/$2.crt" --key-file "$1/$2.key" "$2"
chmod 0644 "$1/$2.crt"
chmod 0600 "$1/$2.key"
