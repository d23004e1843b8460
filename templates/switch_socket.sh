set -e
link=$1 target=$2
mkdir -p "${link%/*}"
ln -sfn "$target" "$link.new"
mv -fT "$link.new" "$link"
