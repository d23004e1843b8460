set -e
echo "$2  $1" | sha256sum -c --quiet - || { echo "$1: SHA-256 mismatch on the server" >&2; exit 1; }
