from django.conf import settings
import sys
from django.core.management import call_command


def migrate_and_collectstatic(migrate, collectstatic, databases):
    """migrate: True, False or "check" (only the databases that lack a migration of the code);
    databases: the aliases of [django] databases, each migrated in turn."""
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
        call_command("collectstatic", interactive=False, verbosity=1)
