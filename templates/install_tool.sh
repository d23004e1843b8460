set -e
dir=$1 package=$2 version=$3 deps_env=$4
[ -f "$dir/.djaploy-complete" ] && exit 0
umask 022
# shellcheck disable=SC1090 # the host's dependencies.env, named by an argument
if [ -r "$deps_env" ]; then set -a; . "$deps_env"; set +a; fi
rm -rf "$dir"
mkdir -p "${dir%/*}"
python3 -m venv "$dir"
"$dir/bin/python" -m pip install --disable-pip-version-check -q --only-binary=:all: "$package==$version"
[ -x "$dir/bin/$package" ] || { echo "the $package package installed no $package executable in $dir/bin" >&2; exit 1; }
touch "$dir/.djaploy-complete"
