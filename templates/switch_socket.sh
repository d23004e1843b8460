set -e
while [ $# -ge 2 ]; do
  link=$1 target=$2
  shift 2
  mkdir -p "${link%/*}"
  ln -sfn "$target" "$link.new"
  mv -fT "$link.new" "$link"
done
