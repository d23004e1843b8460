/** Small scripts djaploy runs or installs on hosts. Constant text; values go in as arguments. */

/** bin/run: runs its arguments with the app's environment loaded. */
export function runWrapper(envFilePath: string): string {
  return `#!/bin/sh
# Written by djaploy: runs a command with the app's environment, e.g.
#   bin/run venv/bin/python code/manage.py shell
set -a
. '${envFilePath.replaceAll("'", `'\\''`)}'
set +a
exec "$@"
`;
}

/**
 * Probes the app over its unix socket until it answers a status in
 * expected ("200", or a range such as "200-399").
 * Arguments: socket path host expected retries interval.
 * An answer outside the range is final at once (a 400 stays a 400), except
 * 502, 503 and 504, which an app may give while it boots; those and "no
 * answer yet" are retried, at most `retries` times and for `retries` x
 * `interval` seconds (at least one). Exit 1: the app answered wrong; 2: it never answered.
 * X-Forwarded-Proto says https, so an HTTPS redirect does not fail a healthy app.
 * Plain sockets and HTTP/1.0: importing http.client takes Python 50 ms
 * (email, ssl), a fifth of a deploy's wait for the new code.
 */
export const HEALTH_CHECK_PY = `import re, socket, sys, time
sock_path, path, host, expected, retries, interval = sys.argv[1:7]
low, _, high = expected.partition("-")
low, high, retries, interval = int(low), int(high or low), int(retries), float(interval)
request = ("GET %s HTTP/1.0\\r\\nHost: %s\\r\\nX-Forwarded-Proto: https\\r\\n\\r\\n" % (path, host)).encode("latin-1")
deadline = time.monotonic() + max(retries * interval, 1.0)
last, status, attempt = "no answer", None, 0
while True:
    attempt += 1
    status = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(1.0, min(10.0, deadline - time.monotonic())))
        try:
            s.connect(sock_path)
            s.sendall(request)
            data = b""
            while b"\\r\\n\\r\\n" not in data or len(data.partition(b"\\r\\n\\r\\n")[2]) < 2000:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\\r\\n\\r\\n")
        words = head.split(b"\\r\\n", 1)[0].decode("latin-1").split()
        if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
            raise OSError("not an HTTP answer: %r" % data[:80])
        status = int(words[1])
        if low <= status <= high:
            print("HTTP %d after %d tries" % (status, attempt))
            sys.exit(0)
        text = body[:2000].decode("utf-8", "replace")
        text = " ".join(re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(head|style|script)\\b.*?</\\1>", " ", text)).split())[:200]
        last = "HTTP %d" % status + (" (%s)" % text if text else "")
        for line in head.split(b"\\r\\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if 300 <= status < 400 and name.strip().lower() == "location":
                last = "HTTP %d to %s" % (status, value.strip())
    except OSError as err:
        last = "no HTTP answer (%s)" % (err or type(err).__name__)
    if status is not None and status not in (502, 503, 504):
        break
    if attempt >= retries or time.monotonic() >= deadline:
        break
    time.sleep(interval)
want = "HTTP %d" % low if low == high else "HTTP %d-%d" % (low, high)
print("GET %s with Host: %s answered %s after %d tr%s, expected %s" % (path, host, last, attempt, "y" if attempt == 1 else "ies", want), file=sys.stderr)
sys.exit(1 if status is not None else 2)
`;

/**
 * Runs the health check's request once through Django's test client inside
 * the new release, with exceptions propagated, and prints what the app says
 * about it: the status, a traceback for an exception, Django's own log lines
 * (e.g. django.security.DisallowedHost), and whether ALLOWED_HOSTS accepts
 * the Host. Run with manage.py shell -c after PATH and HOST are replaced
 * with Python string literals.
 */
export const HEALTH_DIAGNOSIS_PY = `import logging, re, sys, traceback
PATH = "/"
HOST = "localhost"
handler = logging.StreamHandler(sys.stdout)
handler.setLevel(logging.WARNING)
handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
logging.getLogger("django").addHandler(handler)
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.test import Client
settings.DEBUG_PROPAGATE_EXCEPTIONS = True
allowed = list(settings.ALLOWED_HOSTS)
if settings.DEBUG and not allowed:
    allowed = [".localhost", "127.0.0.1", "[::1]"]
domain, port = split_domain_port(HOST)
if not domain or not validate_host(domain, allowed):
    print("ALLOWED_HOSTS = %r does not accept the Host %r: add %r" % (allowed, HOST, domain or HOST))
try:
    response = Client(raise_request_exception=True).get(PATH, HTTP_HOST=HOST, secure=True)
    print("HTTP %d" % response.status_code)
    body = response.content[:2000].decode("utf-8", "replace")
    body = " ".join(re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(head|style|script)\\b.*?</\\1>", " ", body)).split())[:200]
    if body:
        print(body)
except Exception as exc:
    # The app's frames, not Django's middleware stack nor this script.
    import django, os
    frames = traceback.extract_tb(exc.__traceback__)
    django_dir = os.path.dirname(django.__file__) + os.sep
    own = [f for f in frames if not f.filename.startswith(django_dir) and f.filename != "<string>"]
    print("Traceback (most recent call last; Django's own frames left out):")
    print("".join(traceback.format_list(own or frames[-5:])), end="")
    print("".join(traceback.format_exception_only(type(exc), exc)), end="")
`;

/**
 * Builds a virtualenv at its final path and marks it complete only at the
 * end: one without the mark is a failed build, removed and built again, never
 * reused. (Virtualenvs cannot be renamed into place: their scripts hold
 * absolute paths.) The package index and its credentials come from
 * dependencies.env (root's, readable by the app user), never from argv.
 * Arguments: venv python manager system_site(0|1) project installer env_file [installer args...]
 */
export const BUILD_VENV_SH = `set -e
venv=$1 python=$2 manager=$3 system_site=$4 project=$5 installer=$6 deps_env=$7
shift 7
[ -f "$venv/.djaploy-complete" ] && exit 0
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
`;

/**
 * Installs a tool (uv, a pinned Poetry) into its own virtualenv as root:
 * wheels only (no package's build code runs as root), from the index in
 * dependencies.env, marked complete at the end. Arguments: dir package version env_file
 */
export const INSTALL_TOOL_SH = `set -e
dir=$1 package=$2 version=$3 deps_env=$4
[ -f "$dir/.djaploy-complete" ] && exit 0
umask 022
if [ -r "$deps_env" ]; then set -a; . "$deps_env"; set +a; fi
rm -rf "$dir"
mkdir -p "\${dir%/*}"
python3 -m venv "$dir"
"$dir/bin/python" -m pip install --disable-pip-version-check -q --only-binary=:all: "$package==$version"
[ -x "$dir/bin/$package" ] || { echo "the $package package installed no $package executable in $dir/bin" >&2; exit 1; }
touch "$dir/.djaploy-complete"
`;

/**
 * migrate and collectstatic in one Python process (each alone costs a Django
 * start-up). DATABASES: the aliases of `[django] databases`, each migrated in
 * turn (`migrate --database ALIAS`); one the settings do not define stops
 * the script before anything is migrated. MIGRATE = "check" asks Django
 * itself, for each alias, whether that database lacks a migration of the
 * code (the plan `migrate` would run), and migrates only those: exact
 * whatever moved (the code, the settings, [env], a database file), for the
 * price of loading the migration graph, which migrate does anyway.
 */
export const MIGRATE_AND_COLLECTSTATIC_PY = `from django.conf import settings
import sys
from django.core.management import call_command
MIGRATE = True
COLLECTSTATIC = True
DATABASES = ["default"]
missing = [a for a in DATABASES if a not in settings.DATABASES]
if MIGRATE and missing:
    sys.stderr.write(
        "djaploy: define %s in settings.DATABASES or remove it from [django] databases: "
        "the settings define %s\\n"
        % (", ".join(missing), ", ".join(sorted(settings.DATABASES)) or "none")
    )
    sys.exit(3)
todo = list(DATABASES) if MIGRATE else []
if MIGRATE == "check":
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    todo, total = [], 0
    for alias in DATABASES:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        print("djaploy: %s: %d migrations to apply" % (alias, len(plan)))
        total += len(plan)
        if plan:
            todo.append(alias)
    print("djaploy: %d migrations to apply" % total)
for alias in todo:
    print("djaploy: migrate --database %s" % alias)
    sys.stdout.flush()
    call_command("migrate", database=alias, interactive=False, verbosity=1)
if COLLECTSTATIC and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
    call_command("collectstatic", interactive=False, verbosity=1)
`;

/**
 * Moves the live-socket link to another socket, atomically: a connect sees
 * the old target or the new one, never none. Arguments: link target.
 */
export const SWITCH_SOCKET_SH = `set -e
link=$1 target=$2
mkdir -p "\${link%/*}"
ln -sfn "$target" "$link.new"
mv -fT "$link.new" "$link"`;

/**
 * Stops a slot that no longer gets traffic: waits (at most 30 s) until the
 * connections already queued on its socket were accepted, then stops the
 * unit (gunicorn finishes the requests it has), unless traffic came back
 * to it meanwhile (a rollback, the next deploy). Arguments: unit socket live-link.
 */
export const DRAIN_AND_STOP_SH = `i=0
sleep 0.5
while [ $i -lt 150 ] && ss -xlH src "$2" 2>/dev/null | awk '$3 > 0 { found = 1 } END { exit !found }'; do
  sleep 0.2; i=$((i+1))
done
[ -n "$3" ] && [ "$(readlink "$3")" = "$2" ] && exit 0
systemctl stop "$1"`;
