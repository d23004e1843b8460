while [ "$#" -ge 2 ]; do
  want=$(openssl x509 -in "$2" -noout -fingerprint -sha256 2>/dev/null)
  i=0
  while :; do
    got=$(openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
    [ -n "$want" ] && [ "$got" = "$want" ] && break
    i=$((i + 1))
    if [ "$i" -ge 100 ]; then echo "$1"; break; fi
    sleep 0.1
  done
  shift 2
done
