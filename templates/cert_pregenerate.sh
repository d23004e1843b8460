set -e
umask 077
mkdir -p "$1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$4" \
  -subj "/CN=$2" -addext "subjectAltName=$3" \
  -keyout "$1/privkey.pem.djaploy-new" -out "$1/fullchain.pem.djaploy-new" 2>/dev/null
chmod 0644 "$1/fullchain.pem.djaploy-new"
