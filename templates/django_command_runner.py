"""Runs djaploy with a management command's arguments (written by djaploy init)."""
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
        "DJAPLOY_BIN=/opt/djaploy/djaploy (a release binary, or the djaploy command "
        "that deno install makes: see djaploy's README)"
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
