/**
 * Small scripts djaploy runs or installs on hosts, each a real file in this
 * folder (embedded through programs.gen.ts). Constant text; values go in as arguments.
 */
import {
  BUILD_VENV_SH,
  DRAIN_AND_STOP_SH,
  HEALTH_CHECK_PY,
  HEALTH_DIAGNOSIS_PY,
  INSTALL_TOOL_SH,
  MIGRATE_AND_COLLECTSTATIC_PY,
  SWITCH_SOCKET_SH,
} from "./programs.gen.ts";

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
export { HEALTH_CHECK_PY };

/**
 * Runs the health check's request once through Django's test client inside
 * the new release, with exceptions propagated, and prints what the app says
 * about it: the status, a traceback for an exception, Django's own log lines
 * (e.g. django.security.DisallowedHost), and whether ALLOWED_HOSTS accepts
 * the Host. Defines `diagnose(path, host)`: manage.py shell -c runs it with
 * a call appended.
 */
export { HEALTH_DIAGNOSIS_PY };

/**
 * Builds a virtualenv at its final path and marks it complete only at the
 * end: one without the mark is a failed build, removed and built again, never
 * reused. (Virtualenvs cannot be renamed into place: their scripts hold
 * absolute paths.) The package index and its credentials come from
 * dependencies.env (root's, readable by the app user), never from argv.
 * Arguments: venv python manager system_site(0|1) project installer env_file [installer args...]
 */
export { BUILD_VENV_SH };

/**
 * Installs a tool (uv, a pinned Poetry) into its own virtualenv as root:
 * wheels only (no package's build code runs as root), from the index in
 * dependencies.env, marked complete at the end. Arguments: dir package version env_file
 */
export { INSTALL_TOOL_SH };

/**
 * migrate and collectstatic in one Python process (each alone costs a Django
 * start-up). Defines `migrate_and_collectstatic(migrate, collectstatic,
 * databases)`: manage.py shell -c runs it with a call appended. databases:
 * the aliases of `[django] databases`, each migrated in turn (`migrate
 * --database ALIAS`); one the settings do not define stops the script
 * (exit 3) before anything is migrated. migrate "check" asks Django itself,
 * for each alias, whether that database lacks a migration of the code (the
 * plan `migrate` would run), and migrates only those: exact whatever moved
 * (the code, the settings, [env], a database file), for the price of
 * loading the migration graph, which migrate does anyway.
 */
export { MIGRATE_AND_COLLECTSTATIC_PY };

/**
 * Moves root's live links, each atomically and in the order given: a connect
 * (or nginx opening a static file) sees the old target or the new one, never
 * none. Arguments: link target [link target ...]. A switch passes the
 * live-static link before the live-socket link: pages of the new release
 * then never meet the old static folder (the new one holds the old files too).
 */
export { SWITCH_SOCKET_SH };

/**
 * Stops a slot that no longer gets traffic: waits (at most 30 s) until the
 * connections already queued on its socket were accepted, then stops the
 * unit (gunicorn finishes the requests it has), unless traffic came back
 * to it meanwhile (a rollback, the next deploy). Arguments: unit socket live-link.
 */
export { DRAIN_AND_STOP_SH };
