from django.conf import settings
import os
import shutil
import subprocess
import sys
from django.core.management import call_command


def fresh_static(static_dir, seed_from):
    """Makes static_dir a copy of seed_from, the live static folder: copies, not hard links, so
    what collectstatic then writes (a storage may rewrite a file in place, e.g. a compressor's
    .gz) never reaches the live release's files. The live release's hashed files stay, for the
    pages it served; the mtimes stay, so collectstatic copies only what changed."""
    if os.path.realpath(static_dir) == os.path.realpath(seed_from):
        sys.stderr.write("djaploy: refusing to collect into the live static folder %s\n" % static_dir)
        sys.exit(3)
    new = static_dir + ".new"
    shutil.rmtree(new, ignore_errors=True)
    os.makedirs(new)
    if os.path.isdir(seed_from):
        # cp -a: several times faster than shutil.copytree for a folder of small files.
        subprocess.run(["cp", "-a", "--", seed_from + "/.", new + "/"], check=True)
    shutil.rmtree(static_dir, ignore_errors=True)
    os.rename(new, static_dir)


def migrate_and_collectstatic(migrate, collectstatic, databases, static_dir=None, seed_from=None):
    """migrate: True, False or "check" (only the databases that lack a migration of the code);
    databases: the aliases of [django] databases, each migrated in turn; static_dir: the
    STATIC_ROOT djaploy set; seed_from: the live static folder, copied into static_dir first."""
    missing = [a for a in databases if a not in settings.DATABASES]
    if migrate and missing:
        sys.stderr.write(
            "djaploy: define %s in settings.DATABASES or remove it from [django] databases: "
            "the settings define %s\n"
            % (", ".join(missing), ", ".join(sorted(settings.DATABASES)) or "none")
        )
        sys.exit(3)
    todo = list(databases) if migrate else []
    if migrate == "check":
        from django.db import connections
        from django.db.migrations.executor import MigrationExecutor
        todo, total = [], 0
        for alias in databases:
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
    if collectstatic and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
        root = getattr(settings, "STATIC_ROOT", None)
        if static_dir and os.path.abspath(str(root or "")) != os.path.abspath(static_dir):
            sys.stderr.write(
                "djaploy: warning: settings.STATIC_ROOT is %s, but nginx serves the folder in the "
                "STATIC_ROOT environment variable (%s): read it from the environment\n"
                % (root, static_dir)
            )
        elif static_dir and seed_from:
            fresh_static(static_dir, seed_from)
        call_command("collectstatic", interactive=False, verbosity=1)
