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
 * Probes the app over its unix socket until it answers the expected status.
 * Arguments: socket path host expected_status retries interval.
 * The Host header is one ALLOWED_HOSTS accepts, and X-Forwarded-Proto says
 * https, so neither ALLOWED_HOSTS nor an HTTPS redirect fails a healthy app.
 * Plain sockets and HTTP/1.0: importing http.client takes Python 50 ms
 * (email, ssl), a fifth of a deploy's wait for the new code.
 */
export const HEALTH_CHECK_PY = `import socket, sys, time
sock_path, path, host, expected, retries, interval = sys.argv[1:7]
request = ("GET %s HTTP/1.0\\r\\nHost: %s\\r\\nX-Forwarded-Proto: https\\r\\n\\r\\n" % (path, host)).encode("latin-1")
last = "no answer"
for attempt in range(1, int(retries) + 1):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(sock_path)
            s.sendall(request)
            data = b""
            while b"\\r\\n\\r\\n" not in data or len(data.partition(b"\\r\\n\\r\\n")[2]) < 300:
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
        if status == int(expected):
            print("HTTP %d after %d tries" % (status, attempt))
            sys.exit(0)
        last = "HTTP %d: %s" % (status, " ".join(body[:300].decode("utf-8", "replace").split())[:200])
    except OSError as err:
        last = str(err)
    time.sleep(float(interval))
print("%s answered no HTTP %s after %s tries; last: %s" % (path, expected, retries, last), file=sys.stderr)
sys.exit(1)
`;

/**
 * Builds a virtualenv at its final path and marks it complete only at the
 * end: one without the mark is a failed build, removed and built again, never
 * reused. (Virtualenvs cannot be renamed into place: their scripts hold
 * absolute paths.) Arguments: venv python manager system_site(0|1) project_dir [installer args...]
 */
export const BUILD_VENV_SH = `set -e
venv=$1 python=$2 manager=$3 system_site=$4 project=$5
shift 5
[ -f "$venv/.djaploy-complete" ] && exit 0
rm -rf "$venv"
if [ "$system_site" = 1 ]; then
  "$python" -m venv --system-site-packages --without-pip "$venv"
else
  "$python" -m venv "$venv"
fi
cd "$project"
case $manager in
  pip) "$venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt "$@" ;;
  poetry) VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH POETRY_VIRTUALENVS_CREATE=false poetry install --no-root --only main --no-interaction "$@" ;;
  uv) UV_PROJECT_ENVIRONMENT=$venv uv sync --frozen --no-dev --no-install-project "$@" ;;
esac
touch "$venv/.djaploy-complete"
`;

/** migrate and collectstatic in one Python process (each alone costs a Django start-up). */
export const MIGRATE_AND_COLLECTSTATIC_PY = `from django.conf import settings
from django.core.management import call_command
MIGRATE = True
COLLECTSTATIC = True
if MIGRATE:
    call_command("migrate", interactive=False, verbosity=1)
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
