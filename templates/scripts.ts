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
 */
export const HEALTH_CHECK_PY = `import http.client, socket, sys, time
sock_path, path, host, expected, retries, interval = sys.argv[1:7]
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(sock_path)
last = "no answer"
for attempt in range(1, int(retries) + 1):
    try:
        conn = Conn("localhost", timeout=10)
        conn.request("GET", path, headers={"Host": host, "X-Forwarded-Proto": "https"})
        resp = conn.getresponse()
        body = resp.read(300).decode("utf-8", "replace")
        if resp.status == int(expected):
            print("HTTP %d after %d tries" % (resp.status, attempt))
            sys.exit(0)
        last = "HTTP %d: %s" % (resp.status, " ".join(body.split())[:200])
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
 * unit (gunicorn finishes the requests it has). Arguments: unit socket.
 */
export const DRAIN_AND_STOP_SH = `i=0
sleep 0.5
while [ $i -lt 150 ] && ss -xlH src "$2" 2>/dev/null | awk '$3 > 0 { found = 1 } END { exit !found }'; do
  sleep 0.2; i=$((i+1))
done
systemctl stop "$1"`;
