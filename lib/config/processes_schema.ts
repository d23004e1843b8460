/**
 * `[processes]` (Procfile-like workers) and `[[schedule]]` (timers): their
 * keys and checks. The units they become are in templates/process_units.ts.
 */
import type { ScheduleEntry } from "./types.ts";
import type { KeySpec, SectionSpec } from "./schema.ts";
import { describe, Invalid, matching, string, tableEntry } from "./validators.ts";

/** A process's or scheduled job's name: part of its unit's name. */
export const PROCESS_NAME = /^[a-z][a-z0-9_-]{0,40}$/;

/** Names the app's other units already use (`{app}-blue.service`, `{app}-backup-borg`, ...). */
const RESERVED = ["blue", "green", "slots", "web"];
const RESERVED_PREFIXES = ["schedule-", "backup-", "drain"];

/** What is wrong with a process's name (the pattern aside), or undefined when it may be used. */
export function processName(name: string): string | undefined {
  if (RESERVED.includes(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p))) {
    return `must not be ${RESERVED.map((r) => JSON.stringify(r)).join(", ")} or start with ${
      RESERVED_PREFIXES.map((r) => JSON.stringify(r)).join(", ")
    } (the app's other units use those names): got ${JSON.stringify(name)}`;
  }
  return undefined;
}

function command(value: unknown): string {
  const s = string()(value);
  if (s.trim() === "") throw new Invalid(`must be a non-empty command: got ${describe(s)}`);
  return s;
}

/**
 * systemd's calendar syntax, checked by shape: a shorthand (`daily`), or
 * dates and times made of digits, `*`, day names and `,-./:~` (e.g.
 * `"Mon..Fri *-*-* 03:00"`, `"*:0/15"`). `systemd-analyze calendar` has the
 * last word on the server.
 */
const SHORTHANDS = [
  "minutely",
  "hourly",
  "daily",
  "weekly",
  "monthly",
  "yearly",
  "annually",
  "quarterly",
  "semiannually",
];
const CALENDAR = /^(?=.*[0-9*])[A-Za-z0-9*,./:~+ -]{1,100}$/;

function onCalendar(value: unknown): string {
  const s = string()(value);
  if (SHORTHANDS.includes(s) || CALENDAR.test(s)) return s;
  throw new Invalid(
    `must be a systemd calendar expression: ${
      SHORTHANDS.slice(0, 5).map((x) => JSON.stringify(x)).join(", ")
    }, ... or e.g. "*-*-* 03:00", "Mon..Fri 08:00", "*:0/15" (man systemd.time): got ${
      describe(s)
    }`,
  );
}

/** A manage.py command line: the command's name, then its arguments, split on spaces. */
const MANAGE_COMMAND = /^[a-z][a-z0-9_]*$/;

const SCHEDULE_KEYS: Readonly<Record<string, string>> = {
  command: 'A manage.py command and its arguments, split on spaces: `"clearsessions"`.',
  shell: 'Or a shell command line (`/bin/sh -c`): `"python scripts/report.py > /dev/null"`.',
  on_calendar: 'When: systemd\'s `OnCalendar=` syntax, e.g. `"daily"`, `"*-*-* 03:00"`, ' +
    '`"*:0/15"` (every 15 minutes).',
  name:
    "The job's name in its units (`<app>-schedule-<name>`); defaults to the command's name, `_` as `-` " +
    "(required with `shell`).",
};

function scheduleEntry(value: unknown, index: number): ScheduleEntry {
  const { field } = tableEntry(value, index, {
    name: "schedule",
    keys: Object.keys(SCHEDULE_KEYS),
  });
  const manage = field("command", (v) => {
    const words = command(v).trim().split(/\s+/);
    if (!MANAGE_COMMAND.test(words[0])) {
      throw new Invalid(
        `must start with a manage.py command's name (${MANAGE_COMMAND.source}); use shell for ` +
          `a shell command line: got ${describe(v)}`,
      );
    }
    return words;
  });
  const shell = field("shell", command);
  if ((manage === undefined) === (shell === undefined)) {
    throw new Invalid(
      `must have either command (a manage.py command) or shell (a shell command line), not ${
        manage ? "both" : "neither"
      }`,
      [index],
    );
  }
  const when = field("on_calendar", onCalendar);
  if (when === undefined) throw new Invalid("is required", [index, "on_calendar"]);
  const name = field("name", (v) => {
    const s = matching(PROCESS_NAME)(v);
    const bad = processName(s);
    if (bad) throw new Invalid(bad);
    return s;
  }) ?? manage?.[0].replaceAll("_", "-");
  if (name === undefined) {
    throw new Invalid(`is required with shell (${PROCESS_NAME.source})`, [index, "name"]);
  }
  return manage ? { name, manage, on_calendar: when } : { name, shell: shell!, on_calendar: when };
}

function schedule(value: unknown): ScheduleEntry[] {
  if (!Array.isArray(value)) {
    throw new Invalid(`must be an array of tables ([[schedule]]): got ${describe(value)}`);
  }
  const entries = value.map((v, i) => scheduleEntry(v, i));
  entries.forEach((e, i) => {
    const first = entries.findIndex((o) => o.name === e.name);
    if (first !== i) {
      throw new Invalid(
        `must be unique: entry ${first + 1} has the name ${JSON.stringify(e.name)} too; ` +
          "set name on one of them",
        [i, "name"],
      );
    }
  });
  return entries;
}

export const SCHEDULE_KEY: KeySpec = {
  type: "array of tables",
  scopes: ["project", "defaults", "host"],
  parse: schedule,
  defaultValue: [],
  doc: "Scheduled jobs, `[[schedule]]` tables, each a systemd timer running in the live " +
    "release as the app user with the app's environment: " +
    Object.entries(SCHEDULE_KEYS).map(([k, v]) => `\`${k}\`: ${v}`).join(" ") +
    " A job never runs twice at once. Written in more than one level, the most specific list " +
    "wins; jobs no longer listed are removed from the server.",
};

export const PROCESSES_SECTION: SectionSpec = {
  name: "processes",
  doc: "Long-running processes next to the web app, Procfile-like: " +
    '`worker = "celery -A proj worker"`. Each is a systemd unit `<app>-<name>.service` running ' +
    "the live release's code as the app user, with the app's environment and its virtualenv's " +
    "`bin` first in `PATH`; restarted on every deploy once traffic moves, and after activate " +
    "and rollback; removed from the server when removed here.",
  scopes: ["project", "defaults", "host"],
  keys: {},
  anyKey: {
    pattern: PROCESS_NAME,
    label: "process name",
    checkName: processName,
    type: "string",
    parse: (value) => command(value),
    defaultText: "none",
    doc: "A shell command line (`/bin/sh -c`), run in manage.py's folder.",
  },
};
