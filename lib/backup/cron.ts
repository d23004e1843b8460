/**
 * `schedule` is written in cron syntax (what people know) and runs as a
 * systemd timer: this turns the five cron fields into an OnCalendar= value.
 * Pure, so the config check and the unit file agree on one conversion.
 */

const MACROS: Readonly<Record<string, string>> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
};

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** Where names[0] counts from (months: 1). */
  readonly nameBase?: number;
}

const FIELDS: readonly Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  // 7 is Sunday too, as in every cron.
  { name: "day of week", min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** A schedule cron accepts but djaploy cannot run: the message says what and why. */
export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CronError";
  }
}

function value(text: string, f: Field): number {
  const lower = text.toLowerCase();
  const named = f.names?.indexOf(lower) ?? -1;
  if (named !== -1) return named + (f.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw new CronError(`${f.name}: "${text}" is not a number`);
  const n = Number(text);
  if (n < f.min || n > f.max) {
    throw new CronError(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
  }
  return n;
}

/** The values a field matches, or undefined for `*` (every value). */
function expand(text: string, f: Field): number[] | undefined {
  if (text === "*") return undefined;
  const out = new Set<number>();
  for (const item of text.split(",")) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(item);
    if (!m) throw new CronError(`${f.name}: cannot read "${item}"`);
    const [, range, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new CronError(`${f.name}: a step must be at least 1: got "${item}"`);
    let from: number;
    let to: number;
    if (range === "*") {
      [from, to] = [f.min, f.max];
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      [from, to] = [value(a, f), value(b, f)];
      if (from > to) throw new CronError(`${f.name}: the range "${range}" runs backwards`);
    } else {
      from = value(range, f);
      // "5/15" means from 5 to the end, every 15.
      to = stepText === undefined ? from : f.max;
    }
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

/** Values as systemd writes them: `a..b` for runs, `a/s` for a step to the end, else a list. */
function compact(values: readonly number[], max: number, show: (n: number) => string): string {
  if (values.length >= 3) {
    const step = values[1] - values[0];
    const progression = values.every((v, i) => i === 0 || v - values[i - 1] === step);
    if (progression && step > 1 && values.at(-1)! + step > max) {
      return `${show(values[0])}/${step}`;
    }
  }
  const parts: string[] = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j] + 1) j++;
    if (j - i >= 2) parts.push(`${show(values[i])}..${show(values[j])}`);
    else for (let k = i; k <= j; k++) parts.push(show(values[k]));
    i = j + 1;
  }
  return parts.join(",");
}

const two = (n: number) => String(n).padStart(2, "0");

/**
 * The OnCalendar= value for a cron schedule ("30 2 * * *" gives
 * "*-*-* 02:30:00"). Throws CronError for what cannot be converted.
 */
export function cronToOnCalendar(schedule: string): string {
  const text = schedule.trim();
  if (text === "@reboot") {
    throw new CronError('"@reboot" is not a time: use a schedule such as "@daily"');
  }
  const expanded = MACROS[text.toLowerCase()] ?? text;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(
      `expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as "@daily": got ${parts.length}`,
    );
  }
  const [minute, hour, dom, month, dow] = parts.map((p, i) => expand(p, FIELDS[i]));
  if (dom !== undefined && dow !== undefined) {
    throw new CronError(
      "restrict the day of month or the day of week, not both: cron runs when either matches, a systemd timer only when both do",
    );
  }
  const days = dow === undefined
    ? undefined
    : [...new Set(dow.map((d) => d % 7))].sort((a, b) => a - b);
  const date = `*-${month ? compact(month, 12, two) : "*"}-${dom ? compact(dom, 31, two) : "*"}`;
  const time = `${hour ? compact(hour, 23, two) : "*"}:${
    minute ? compact(minute, 59, two) : "*"
  }:00`;
  // Weekdays take ranges and lists, no steps: Infinity keeps compact() from writing one.
  const weekday = days ? `${compact(days, Infinity, (d) => SYSTEMD_DAYS[d])} ` : "";
  return `${weekday}${date} ${time}`;
}
