/**
 * `djaploy init --django-commands`: a small Django app whose management
 * commands (`python manage.py deploy --env production`, ...) run djaploy
 * with the same arguments and exit with its exit code, for teams used to the
 * Python djaploy's commands. djaploy is found as DJAPLOY_BIN (a setting or an
 * environment variable, a command line such as "deno run -A /opt/djaploy/cli.ts")
 * or as `djaploy` on PATH.
 */

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

const RUNNER = `"""Runs djaploy with a management command's arguments (written by djaploy init)."""
import os
import shlex
import shutil
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def djaploy_command():
    """DJAPLOY_BIN (setting, then environment), else djaploy on PATH."""
    configured = getattr(settings, "DJAPLOY_BIN", None) or os.environ.get("DJAPLOY_BIN")
    if configured:
        return shlex.split(configured) if isinstance(configured, str) else list(configured)
    found = shutil.which("djaploy")
    if found:
        return [found]
    raise CommandError(
        "Install djaploy: it is not on PATH. Or set DJAPLOY_BIN (in settings or the "
        "environment) to the command that runs it, e.g. "
        "DJAPLOY_BIN='deno run -A /path/to/djaploy/cli.ts'"
    )


def run_djaploy(name, args):
    """djaploy's exit code (128 + N when a signal N ended it)."""
    command = djaploy_command() + [name] + list(args)
    try:
        code = subprocess.call(command)
    except FileNotFoundError:
        raise CommandError("Cannot run %s: not found (check DJAPLOY_BIN)" % command[0])
    except KeyboardInterrupt:
        return 130
    return 128 - code if code < 0 else code


class DjaployCommand(BaseCommand):
    help = "Runs djaploy with these arguments; see: djaploy --help"

    def name(self):
        return self.__module__.rsplit(".", 1)[-1]

    def run_from_argv(self, argv):
        # Every argument goes to djaploy as it is (Django's own parser would
        # refuse djaploy's flags).
        sys.exit(run_djaploy(argv[1], argv[2:]))

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*", help="djaploy's arguments")

    def handle(self, *args, **options):
        # call_command("deploy", "--env", "production"): the same, without exiting.
        code = run_djaploy(self.name(), args)
        if code:
            raise CommandError("djaploy %s exited with code %d" % (self.name(), code), returncode=code)
`;

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
    [`${DJANGO_APP}/management/commands/_djaploy.py`]: RUNNER,
  };
  for (const name of DJANGO_COMMANDS) {
    files[`${DJANGO_APP}/management/commands/${name}.py`] = `from ._djaploy import DjaployCommand


class Command(DjaployCommand):
    help = "djaploy ${name}: runs djaploy with these arguments (djaploy ${name} --help)"
`;
  }
  return files;
}
