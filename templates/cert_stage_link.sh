set -e
ln -sfn "$2" "$1.djaploy-new"
