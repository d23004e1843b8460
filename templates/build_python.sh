set -e
archive=$1 sha=$2 prefix=$3 version=$4 bindir=$5
echo "$sha  $archive" | sha256sum -c --quiet - || { echo "$archive: SHA-256 mismatch on the server" >&2; exit 1; }
built=
if [ "$(cat "$prefix/.djaploy-source-sha256" 2>/dev/null)" != "$sha" ] || [ ! -x "$prefix/bin/python$version" ]; then
  work=$(mktemp -d /var/tmp/djaploy-python.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  tar -xf "$archive" -C "$work" --strip-components=1
  cd "$work"
  step() {
    log=$1; shift
    "$@" >"$work/$log.log" 2>&1 || { echo "$* failed; the end of its output:" >&2; tail -n 30 "$work/$log.log" >&2; exit 1; }
  }
  rm -rf "$prefix"
  step configure ./configure --prefix="$prefix" --with-ensurepip=install
  step make make -j"$(nproc)"
  step install make altinstall
  [ -x "$prefix/bin/python$version" ] || {
    echo "the archive built no python$version: is python_source_url a $version release?" >&2
    exit 1
  }
  built=1
fi
mkdir -p "$bindir"
printf '#!/bin/sh\n# Written by djaploy (python_compile): the Python built into %s.\nexec %s/bin/python%s "$@"\n' \
  "$prefix" "$prefix" "$version" > "$bindir/python$version.djaploy-new"
chmod 0755 "$bindir/python$version.djaploy-new"
mv -f "$bindir/python$version.djaploy-new" "$bindir/python$version"
[ -z "$built" ] || echo "$sha" > "$prefix/.djaploy-source-sha256"
[ -z "$built" ] || echo "built $("$prefix/bin/python$version" -c 'import sys; print(sys.version.split()[0])')"
