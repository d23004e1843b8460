/**
 * `djaploy init --django-commands`: a small Django app whose management
 * commands (`python manage.py deploy --env production`, ...) run djaploy
 * with the same arguments and exit with its exit code, for teams used to the
 * Python djaploy's commands. djaploy is found as DJAPLOY_BIN (a setting or an
 * environment variable, a command line such as "/opt/djaploy/djaploy", a release binary)
 * or as `djaploy` on PATH.
 */
import { DJANGO_COMMAND_RUNNER_PY } from "./programs.gen.ts";

/** The app's package name (add it to INSTALLED_APPS). */
export const DJANGO_APP = "djaploy_commands";

/** The Python djaploy's commands; each is djaploy's command or one of its aliases. */
export const DJANGO_COMMANDS: readonly string[] = [
  "deploy",
  "configureserver",
  "activate",
  "rollback",
  "status",
  "sync_certs",
  "update_certs",
  "verify",
];

/** The app's files, by path relative to manage.py's folder. */
export function djangoCommandFiles(): Record<string, string> {
  const files: Record<string, string> = {
    [`${DJANGO_APP}/__init__.py`]: "",
    [`${DJANGO_APP}/apps.py`]: `from django.apps import AppConfig


class DjaployCommandsConfig(AppConfig):
    """manage.py commands that run djaploy (written by djaploy init --django-commands)."""

    name = "${DJANGO_APP}"
    verbose_name = "djaploy commands"
`,
    [`${DJANGO_APP}/management/__init__.py`]: "",
    [`${DJANGO_APP}/management/commands/__init__.py`]: "",
    [`${DJANGO_APP}/management/commands/_djaploy.py`]: DJANGO_COMMAND_RUNNER_PY,
  };
  for (const name of DJANGO_COMMANDS) {
    files[`${DJANGO_APP}/management/commands/${name}.py`] = `from ._djaploy import DjaployCommand


class Command(DjaployCommand):
    help = "djaploy ${name}: runs djaploy with these arguments (djaploy ${name} --help)"
`;
  }
  return files;
}
