/** Which backup `restore` takes: the latest, the last one at a date, or one by name. */
import { UsageError, UserError } from "../errors.ts";
import { textOrder } from "../order.ts";

/** One backup as backup.py and the local listing report it. */
export interface BackupEntry {
  /** rclone: the folder (`2025-01-31T030000Z`); borg: the archive name. */
  readonly name: string;
  /** ISO 8601, UTC. */
  readonly time: string;
  /** rclone: the manifest is there (the upload finished). */
  readonly complete: boolean;
}

/**
 * `--date`: `2025-01-31` means the end of that day (UTC); a time without a
 * zone is UTC too (`2025-01-31T12:00`); a zone may be given.
 */
export function parseDateFlag(text: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const iso = day
    ? `${text}T23:59:59.999Z`
    : /(Z|[+-]\d{2}:?\d{2})$/.test(text)
    ? text
    : `${text}Z`;
  const date = new Date(iso);
  if (
    !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?/.test(text) || isNaN(date.getTime())
  ) {
    throw new UsageError(
      `--date must be a date or a time: got "${text}"`,
      {
        hint:
          "For example --date 2025-01-31 (the last backup of that day, UTC) or --date 2025-01-31T12:00.",
      },
    );
  }
  return date;
}

export function chooseBackup(
  backups: readonly BackupEntry[],
  opts: { date?: Date; archive?: string; source: string },
): BackupEntry {
  const complete = backups.filter((b) => b.complete)
    .sort((a, b) => textOrder(a.time, b.time));
  if (opts.archive !== undefined) {
    const found = complete.find((b) => b.name === opts.archive);
    if (!found) {
      const unfinished = backups.some((b) => b.name === opts.archive);
      throw new UserError(
        `Choose another backup: ${opts.source} has ${
          unfinished ? "only an unfinished" : "no"
        } backup named "${opts.archive}"`,
        { hint: "List them with --list." },
      );
    }
    return found;
  }
  const before = opts.date
    ? complete.filter((b) => new Date(b.time).getTime() <= opts.date!.getTime())
    : complete;
  const chosen = before.at(-1);
  if (!chosen) {
    throw new UserError(
      opts.date
        ? `Choose a later date: ${opts.source} has no backup from before ${opts.date.toISOString()}`
        : `Back up first: ${opts.source} has no complete backup`,
      { hint: complete.length ? `The oldest is ${complete[0].name}.` : undefined },
    );
  }
  return chosen;
}
