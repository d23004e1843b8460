set -e
link=$1 dest=$2
mkdir -p "${link%/*}"
if [ -d "$link" ] && [ ! -L "$link" ]; then mv "$link" "$link.replaced-$(date +%Y%m%dT%H%M%S)"; fi
ln -sfn "$dest" "$link.new"
mv -fT "$link.new" "$link"
