set -e
dir=$1 shared=$2; shift 2
for p; do
  mkdir -p "$shared/$p"
  if [ -e "$dir/$p" ] && [ ! -L "$dir/$p" ] && [ -n "$(ls -A "$dir/$p" 2>/dev/null)" ]; then cp -an "$dir/$p/." "$shared/$p/"; fi
  rm -rf "${dir:?}/$p"; mkdir -p "$(dirname "$dir/$p")"; ln -s "$shared/$p" "$dir/$p"
done
