/**
 * `[django]`: what djaploy must know of the Django project's settings that
 * it cannot read without running them: the database aliases migrate runs
 * for (lib/deploy/steps.ts runDjangoTasks).
 */
import type { SectionSpec } from "./spec.ts";
import { arrayOf, describe, Invalid, string } from "./validators.ts";

/** A key of Django's DATABASES: a Python identifier-like alias. */
export const DATABASE_ALIAS = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;

function alias(value: unknown): string {
  const s = string()(value);
  if (!DATABASE_ALIAS.test(s)) {
    throw new Invalid(
      "must be an alias of settings.DATABASES (letters, digits, _ and -, not starting with a " +
        `digit or -, e.g. "default"): got ${describe(s)}`,
    );
  }
  return s;
}

function databases(value: unknown): string[] {
  const aliases = arrayOf(alias, "an array of database aliases")(value);
  if (aliases.length === 0) {
    throw new Invalid(
      'must name at least one database alias of settings.DATABASES (e.g. ["default"]): got []',
    );
  }
  aliases.forEach((a, i) => {
    const first = aliases.indexOf(a);
    if (first !== i) {
      throw new Invalid(
        `must not repeat an alias: ${describe(a)} is entry ${first + 1} and entry ${i + 1}`,
        [i],
      );
    }
  });
  return aliases;
}

export const DJANGO_SECTION: SectionSpec = {
  name: "django",
  doc: "What djaploy needs to know of the Django project's settings.",
  scopes: ["project", "defaults", "host"],
  keys: {
    databases: {
      type: "array of strings",
      parse: databases,
      defaultValue: ["default"],
      doc: "The aliases of `settings.DATABASES` migrate runs for, in order " +
        '(`migrate --database <alias>` each), e.g. `["default", "analytics"]`. Every deploy asks ' +
        "Django whether any of them lacks a migration of the new code and migrates only then. " +
        "An alias the settings do not define fails the deploy before anything is migrated. " +
        "Backups (rclone, borg): with more than one alias, [env]'s `DATABASE_PATH` or " +
        "`DATABASE_URL` names only one file, so list each SQLite database's file in " +
        "`rclone.databases` / `borg.databases`.",
    },
  },
};
