set -e
venv=$1 python=$2 manager=$3 system_site=$4 project=$5 installer=$6 deps_env=$7
shift 7
[ -f "$venv/.djaploy-complete" ] && exit 0
# shellcheck disable=SC1090 # the host's dependencies.env, named by an argument
if [ -r "$deps_env" ]; then set -a; . "$deps_env"; set +a; fi
rm -rf "$venv"
if [ "$system_site" = 1 ]; then
  "$python" -m venv --system-site-packages --without-pip "$venv"
else
  "$python" -m venv "$venv"
fi
cd "$project"
case $manager in
  pip) "$venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt "$@" ;;
  poetry) VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH POETRY_VIRTUALENVS_CREATE=false "$installer" install --no-root --only main --no-interaction "$@" ;;
  uv) UV_PROJECT_ENVIRONMENT=$venv "$installer" sync --frozen --no-dev --no-install-project "$@" ;;
esac
touch "$venv/.djaploy-complete"
