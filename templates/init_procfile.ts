/**
 * What `djaploy init` makes of a Procfile: its non-web lines become
 * `[processes]` (djaploy runs gunicorn itself for `web:`); of a `release:`
 * line, what djaploy does not already run (migrate, collectstatic) becomes
 * `[release] command` (written by init_files.ts). Pure functions of the detected project.
 */
import type { DjangoProject } from "../lib/django/project.ts";
import type { ProcfileEntry } from "../lib/django/settings.ts";
import { PROCESS_NAME, processName } from "../lib/config/processes_schema.ts";

const str = (s: string) => JSON.stringify(s);

/** What init does with one Procfile line. */
export type ProcfilePlan =
  | { readonly kind: "web"; readonly entry: ProcfileEntry }
  | { readonly kind: "process"; readonly entry: ProcfileEntry; readonly name: string }
  | { readonly kind: "skipped"; readonly entry: ProcfileEntry; readonly reason: string }
  | {
    readonly kind: "release";
    readonly entry: ProcfileEntry;
    /** The part djaploy does not already run (migrate, collectstatic); "" when none. */
    readonly rest: string;
  };

/** A `manage.py migrate` or `collectstatic` step: djaploy runs both on every deploy. */
const DJAPLOY_RUNS =
  /^(?:python[0-9.]*\s+)?(?:\S*\/)?manage\.py\s+(?:migrate|collectstatic)\b[^;&|]*$/;

/**
 * A `release:` line without what djaploy runs itself (migrate,
 * collectstatic): "" when nothing else is left. A line with `;` or `||`
 * stays whole, its logic is the user's.
 */
export function releaseRest(command: string): string {
  const line = command.trim();
  if (/;|\|\|/.test(line)) return line;
  return line.split("&&").map((part) => part.trim())
    .filter((part) => part !== "" && !DJAPLOY_RUNS.test(part)).join(" && ");
}

/** Each Procfile line and what init makes of it, in the Procfile's order. */
export function procfilePlan(entries: readonly ProcfileEntry[]): ProcfilePlan[] {
  const names = new Set<string>();
  return entries.map((entry): ProcfilePlan => {
    if (entry.type === "web") return { kind: "web", entry };
    if (entry.type === "release") {
      return { kind: "release", entry, rest: releaseRest(entry.command) };
    }
    const name = entry.type.toLowerCase();
    const bad = !PROCESS_NAME.test(name)
      ? `a process's name must match ${PROCESS_NAME.source}`
      : processName(name) ?? (names.has(name) ? `the Procfile names ${name} twice` : undefined);
    if (bad) return { kind: "skipped", entry, reason: bad };
    names.add(name);
    return { kind: "process", entry, name };
  });
}

/** The lines of infra/djaploy.toml for the Procfile's processes. */
export function procfileToml(p: DjangoProject): string[] {
  const plan = procfilePlan(p.procfile ?? []);
  const lines: string[] = [];
  const processes = plan.filter((e) => e.kind === "process" || e.kind === "skipped");
  if (processes.length) {
    const where = p.managePy.includes("/")
      ? `, in ${p.managePy.slice(0, p.managePy.lastIndexOf("/"))}/ (manage.py's folder)`
      : "";
    lines.push(
      "",
      "[processes]",
      "# From your Procfile: each runs as a systemd unit of the app (<app>-<name>.service)",
      `# next to gunicorn, with the app's environment and virtualenv${where}; restarted on`,
      "# every deploy. `djaploy status` and `djaploy logs` show them.",
    );
    for (const e of processes) {
      if (e.kind === "process") lines.push(`${e.name} = ${str(e.entry.command)}`);
      else {
        lines.push(
          `# Procfile ${e.entry.type}: not written (${e.reason}); add it under another name:`,
          `# ${e.entry.type} = ${str(e.entry.command)}`,
        );
      }
    }
  }
  return lines;
}
