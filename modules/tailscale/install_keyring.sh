install -m 0644 "$1" "$3"
