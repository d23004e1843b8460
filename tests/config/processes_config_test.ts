import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { HostConfig } from "../../lib/config/types.ts";

type Files = Readonly<Record<string, string>>;

async function withFiles<T>(files: Files, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_procs_" }));
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const lines = (...ls: string[]) => ls.join("\n") + "\n";
const INVENTORY = lines("[[hosts]]", 'name = "web1"', 'ssh_hostname = "10.0.0.1"');

async function load(project: string[]): Promise<HostConfig> {
  return await withFiles(
    { "infra/djaploy.toml": lines(...project), "infra/inventory/production.toml": INVENTORY },
    async (dir) => (await loadEnvironment(await loadProject({ cwd: dir }), "production")).hosts[0],
  );
}

async function loadError(project: string[]): Promise<string> {
  try {
    await load(project);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  throw new Error("expected a config error");
}

const P = 'project_name = "hello"';

Deno.test("processes and schedule: parsed, with names derived from manage.py commands", async () => {
  const host = await load([
    P,
    "",
    "[processes]",
    'worker = "celery -A proj worker"',
    'rq-high = "rq worker high"',
    "",
    "[[schedule]]",
    'command = "clearsessions"',
    'on_calendar = "daily"',
    "",
    "[[schedule]]",
    'command = "send_digest --days 7"',
    'on_calendar = "Mon..Fri *-*-* 08:00"',
    "",
    "[[schedule]]",
    'name = "report"',
    'shell = "python scripts/report.py > /dev/null"',
    'on_calendar = "*:0/15"',
  ]);
  assert.deepEqual(host.processes, {
    worker: "celery -A proj worker",
    "rq-high": "rq worker high",
  });
  assert.deepEqual(host.schedule, [
    { name: "clearsessions", manage: ["clearsessions"], on_calendar: "daily" },
    {
      name: "send-digest",
      manage: ["send_digest", "--days", "7"],
      on_calendar: "Mon..Fri *-*-* 08:00",
    },
    { name: "report", shell: "python scripts/report.py > /dev/null", on_calendar: "*:0/15" },
  ]);
});

const BAD: [string, string[], string][] = [
  [
    "a process name with capitals",
    [P, "[processes]", 'Worker = "celery"'],
    'infra/djaploy.toml:3: processes: process name must match ^[a-z][a-z0-9_-]{0,40}$: got "Worker"',
  ],
  [
    "a process named like a slot",
    [P, "[processes]", 'blue = "celery"'],
    'infra/djaploy.toml:3: processes: process name must not be "blue", "green", "slots", "web" or ' +
    'start with "schedule-", "backup-", "drain" (the app\'s other units use those names): got "blue"',
  ],
  [
    "an empty process command",
    [P, "[processes]", 'worker = "  "'],
    'infra/djaploy.toml:3: processes.worker: must be a non-empty command: got "  "',
  ],
  [
    "a process command with a newline",
    [P, "[processes]", 'worker = "celery\\nExecStartPre=/bin/evil"'],
    "infra/djaploy.toml:3: processes.worker: must be printable text, without control characters " +
    '(newline, tab, NUL and the like): got "celery\\nExecStartPre=/bin/evil"',
  ],
  [
    "a job with neither command nor shell",
    [P, "[[schedule]]", 'on_calendar = "daily"'],
    "infra/djaploy.toml:2: schedule[0]: must have either command (a manage.py command) or shell " +
    "(a shell command line), not neither",
  ],
  [
    "a job with both",
    [P, "[[schedule]]", 'command = "x"', 'shell = "y"', 'name = "y"', 'on_calendar = "daily"'],
    "infra/djaploy.toml:2: schedule[0]: must have either command (a manage.py command) or shell " +
    "(a shell command line), not both",
  ],
  [
    "a job without on_calendar",
    [P, "[[schedule]]", 'command = "clearsessions"'],
    "infra/djaploy.toml:2: schedule[0].on_calendar: is required",
  ],
  [
    "a calendar of the wrong shape",
    [P, "[[schedule]]", 'command = "clearsessions"', 'on_calendar = "every day"'],
    "infra/djaploy.toml:4: schedule[0].on_calendar: must be a systemd calendar expression: " +
    '"minutely", "hourly", "daily", "weekly", "monthly", ... or e.g. "*-*-* 03:00", ' +
    '"Mon..Fri 08:00", "*:0/15" (man systemd.time): got "every day"',
  ],
  [
    "a shell job without a name",
    [P, "[[schedule]]", 'shell = "date"', 'on_calendar = "daily"'],
    "infra/djaploy.toml:2: schedule[0].name: is required with shell (^[a-z][a-z0-9_-]{0,40}$)",
  ],
  [
    "a command that is not a manage.py command's name",
    [P, "[[schedule]]", 'command = "./run.sh"', 'on_calendar = "daily"'],
    "infra/djaploy.toml:3: schedule[0].command: must start with a manage.py command's name " +
    '(^[a-z][a-z0-9_]*$); use shell for a shell command line: got "./run.sh"',
  ],
  [
    "two jobs with one name",
    [
      P,
      "[[schedule]]",
      'command = "clearsessions"',
      'on_calendar = "daily"',
      "[[schedule]]",
      'command = "clearsessions"',
      'on_calendar = "hourly"',
    ],
    "infra/djaploy.toml:5: schedule[1].name: must be unique: entry 1 has the name " +
    '"clearsessions" too; set name on one of them',
  ],
  [
    "an unknown key in a job",
    [P, "[[schedule]]", 'command = "clearsessions"', 'oncalendar = "daily"'],
    'infra/djaploy.toml:4: schedule[0].oncalendar: unknown key "oncalendar" (did you mean "on_calendar"?)',
  ],
];

for (const [name, project, message] of BAD) {
  Deno.test(`config error: ${name}`, async () => {
    assert.equal(await loadError(project), message);
  });
}
