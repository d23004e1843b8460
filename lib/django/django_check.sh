manage=$1; shift
for py in "$@"; do
  command -v "$py" >/dev/null 2>&1 || [ -x "$py" ] || continue
  if "$py" -c 'import django' >/dev/null 2>&1; then
    echo "python: $py" >&2
    exec "$py" "$manage" check --deploy
  fi
done
exit 127
