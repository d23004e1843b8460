from django.conf import settings
from django.core.management import call_command


def migrate_and_collectstatic(migrate, collectstatic):
    """migrate: True, False or "check" (only if the database lacks a migration of the code)."""
    if migrate == "check":
        from django.db import DEFAULT_DB_ALIAS, connections
        from django.db.migrations.executor import MigrationExecutor
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        migrate = bool(plan)
        print("djaploy: %d migrations to apply" % len(plan))
    if migrate:
        call_command("migrate", interactive=False, verbosity=1)
    if collectstatic and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
        call_command("collectstatic", interactive=False, verbosity=1)
