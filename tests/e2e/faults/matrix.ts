/**
 * The fault matrix's engine (tests/e2e/faults_test.ts, docs/faults.md): one
 * cell is a deploy of a new commit with a fault injected when a phase starts,
 * then the checks every cell shares.
 *
 * A phase starts when djaploy's `--json` stream reports the step before it
 * (events come when a step ends); phases that are quick on their own are made
 * slow by the commit they deploy, with nothing in djaploy made for tests: a
 * 16 MB file to upload, a changed requirements.txt (a new virtualenv), a
 * migration that sleeps, a WSGI module that sleeps on import, a request that
 * keeps the old release busy while it drains.
 *
 * After each cell: the site serves the previous or the new release (and
 * nothing else), `status --json` names the release that serves, the live
 * socket points at the slot the records name, the next plain deploy needs no
 * `unlock`, succeeds and serves the new commit.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  type DjaployResult,
  httpGet,
  makeProject,
  type TestHost,
  type TestProject,
} from "../harness.ts";
import { ok } from "../harness/expect.ts";
import { STATE } from "../harness/environment.ts";
import { run } from "../harness/run.ts";

export type Strategy = "zero_downtime" | "bluegreen";
export type Phase = "upload" | "dependencies" | "migrate" | "start" | "switch" | "cleanup";
export type Fault = "kill" | "net-blip" | "net-down" | "sshd" | "reboot" | "disk-full";

export const PHASES: readonly Phase[] = [
  "upload",
  "dependencies",
  "migrate",
  "start",
  "switch",
  "cleanup",
];

/** The step whose end starts each phase, per strategy. */
const TRIGGER: Record<Strategy, Record<Phase, string>> = {
  zero_downtime: {
    upload: "check server",
    dependencies: "systemd units",
    migrate: "dependencies",
    start: "migrate and collectstatic",
    switch: "start new release",
    cleanup: "switch traffic",
  },
  bluegreen: {
    upload: "check server",
    dependencies: "systemd units",
    migrate: "dependencies",
    start: "migrate and collectstatic",
    switch: "start staged slot",
    cleanup: "activate",
  },
};

/** How long the network stays cut in a "net-blip" cell. */
export const BLIP_MS = 8_000;
/** The app's folder, where "disk-full" cells mount a small filesystem. */
const APP_DIR = "/home/app/apps/hello";
const FILL = `${APP_DIR}/fill`;

/** What one cell saw; docs/faults.md is made from these. */
export interface CellResult {
  readonly strategy: Strategy;
  readonly phase: Phase;
  readonly fault: Fault;
  /** djaploy's exit code under the fault. */
  readonly code: number;
  /** The last step that had ended when the fault was in effect. */
  readonly landedAfter: string;
  /** The last step that ended before djaploy stopped, and the one that failed (if it said so). */
  readonly lastStep: string;
  readonly failedStep: string;
  /** "previous" or "new": what served once the fault was over. */
  readonly served: "previous" | "new";
  /** Milliseconds from the fault to djaploy's exit. */
  readonly exitAfterMs: number;
  /** What happened to the faulted run, for people (its error line). */
  readonly error: string;
  /** Milliseconds the next deploy took (no unlock before it). */
  readonly nextMs: number;
  readonly note: string;
}

/** A host with its project, deploying cell after cell. */
export interface Bench {
  readonly host: TestHost;
  readonly project: TestProject;
  readonly strategy: Strategy;
  /** The message the site serves now, and its commit. */
  live: { message: string; commit: string };
  migrations: number;
  cells: number;
  readonly diskFull: boolean;
}

const WSGI = `"""WSGI entry point; sleeps on import as long as slow_start.txt (if any) says."""
import os
import time
from pathlib import Path

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello.settings")

_SLOW = Path(__file__).resolve().parent.parent / "slow_start.txt"
if _SLOW.exists():
    time.sleep(float(_SLOW.read_text()))

application = get_wsgi_application()
`;

const VIEWS_EXTRA = `

def slow(request):
    import time

    time.sleep(float(request.GET.get("s", "5")))
    return HttpResponse("slow done", content_type="text/plain")
`;

const URLS = `from django.urls import path

from pages import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("slow/", views.slow, name="slow"),
]
`;

function sleepingMigration(n: number, seconds: number): string {
  const previous = n === 2 ? "0001_initial" : `${String(n - 1).padStart(4, "0")}_pause`;
  return `import time

from django.db import migrations


def pause(apps, schema_editor):
    time.sleep(${seconds})


class Migration(migrations.Migration):
    dependencies = [("pages", "${previous}")]
    operations = [migrations.RunPython(pause, migrations.RunPython.noop)]
`;
}

/**
 * Commands for the faults go over an ssh connection opened before the deploy
 * (a fresh login takes 0.2 s here, seconds on a loaded machine: too late for
 * a phase of a few hundred milliseconds).
 */
function controlPath(host: TestHost): string {
  return `/tmp/djaploy-faults-${host.nsName}.sock`;
}

/**
 * `logLevel`: ERROR keeps a command's output clean; the control connection's log is at INFO, the
 * level of "Connection closed by ..." (a server that ends the login, as one shutting down does).
 */
function sshArgs(host: TestHost, logLevel = "ERROR"): string[] {
  return [
    ...["-i", host.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
    ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
    ...["-o", `LogLevel=${logLevel}`, "-o", `ControlPath=${controlPath(host)}`],
  ];
}

/**
 * Opens the control connection unless it is open (a reboot ends it). A host
 * that does not answer SSH is waited for up to a minute, said out loud and
 * returned (ms) for the cell's notes: the cell starts only from a reachable
 * host. Past the minute the cell fails with ssh's own error and what the
 * controller sees of the host.
 */
export async function openControl(host: TestHost): Promise<number> {
  const check = await run("ssh", [...sshArgs(host), "-O", "check", `deploy@${host.ip}`]);
  if (check.code === 0) return 0;
  // -f: the master stays in the background. Its output goes nowhere, so run() does not wait on
  // it; its errors go to a log (-E), which a failure quotes.
  const log = `${controlPath(host)}.log`;
  const args = [
    ...sshArgs(host, "INFO"),
    ...["-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-o", "ConnectTimeout=10"],
    ...["-E", log, "-fN"],
  ].map((a) => `'${a}'`).join(" ");
  const started = performance.now();
  let why = "";
  while (performance.now() - started < 60_000) {
    await Deno.remove(log).catch(() => {});
    const r = await run("bash", ["-c", `ssh ${args} deploy@${host.ip} </dev/null >/dev/null 2>&1`]);
    if (r.code === 0) {
      if (why === "") return 0;
      const waited = Math.round(performance.now() - started);
      // deno-lint-ignore no-console
      console.error(`faults: ${host.nsName} answered SSH again after ${waited} ms (${why})`);
      return waited;
    }
    const first = why === "";
    // At INFO the log also says each time that the host key was added (UserKnownHostsFile=/dev/null).
    const said = (await Deno.readTextFile(log).catch(() => "")).split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("Warning: Permanently added"));
    why = said.join("\n") || `ssh exited ${r.code}`;
    if (first) {
      // deno-lint-ignore no-console
      console.error(`faults: ${host.nsName} did not answer SSH: ${why}; waiting up to 60 s`);
    }
    await sleep(2000);
  }
  // What the controller sees of the host: its listening sockets, its nspawn processes, the
  // inits in its network namespace (two: a container that outlived its nspawn), its console.
  const seen = await run("bash", [
    "-c",
    `ip netns exec ${host.nsName} ss -ltnH; pgrep -af -- '--machine=${host.nsName} '
    for p in $(ip netns pids ${host.nsName}); do ps -o pid=,ppid=,etimes=,args= -p $p; done |
      grep -E ' (/usr/lib/systemd/systemd|/sbin/init)$' | sed 's/^/init: /'
    echo '--- console:'; tail -n 30 ${STATE}/${host.nsName}.log | sed 's/\\x1b\\[[0-9;]*m//g'`,
  ]);
  throw new Error(
    `the test's control connection to ${host.nsName} failed for 60 s: ${why}\n` +
      `listening, nspawn processes, inits and console:\n${seen.stdout.trim()}`,
  );
}

export async function closeControl(host: TestHost): Promise<void> {
  await run("ssh", [...sshArgs(host), "-O", "exit", `deploy@${host.ip}`]);
}

/** Runs a command on the host over the control connection. */
async function fast(host: TestHost, cmd: string): Promise<string> {
  const r = await run(
    "ssh",
    [...sshArgs(host), "-o", "ControlMaster=no", `deploy@${host.ip}`, cmd],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs a command on the controller as root (iptables). */
async function local(cmd: string): Promise<void> {
  const r = await run("bash", ["-c", cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
}

function deployArgs(strategy: Strategy): string[] {
  // A bluegreen deploy only stages; --activate makes it switch traffic as well.
  return ["deploy", "--env", "test", ...(strategy === "bluegreen" ? ["--activate"] : [])];
}

/**
 * Configures the host, (for disk-full cells) mounts a 256 MB filesystem at
 * the app's folder, and deploys a first release.
 */
export async function setUpBench(
  host: TestHost,
  strategy: Strategy,
  opts: { diskFull?: boolean } = {},
): Promise<Bench> {
  const project = await makeProject({
    hosts: [host],
    strategy,
    files: { "hello/wsgi.py": WSGI, "hello/urls.py": URLS },
  });
  const views = await Deno.readTextFile(`${project.dir}/pages/views.py`);
  await project.write("pages/views.py", views + VIEWS_EXTRA);
  await project.write("pages/message.txt", "base\n");
  await writeCss(project, "base");
  const commit = await project.commit("base");
  ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
  if (opts.diskFull) {
    // Keep what configure made (owner, mode, contents) on the small filesystem.
    await onHost(
      host,
      `sudo -n sh -ec 'd=${APP_DIR}; o=$(stat -c %u:%g "$d"); m=$(stat -c %a "$d");
        cp -a "$d" /var/tmp/appdir; mount -t tmpfs -o size=256m tmpfs "$d";
        cp -a /var/tmp/appdir/. "$d"/; chown "$o" "$d"; chmod "$m" "$d"; rm -rf /var/tmp/appdir'`,
    );
  }
  ok(await djaploy(project, deployArgs(strategy)), "first deploy");
  const bench: Bench = {
    host,
    project,
    strategy,
    live: { message: "base", commit },
    migrations: 1,
    cells: 0,
    diskFull: opts.diskFull ?? false,
  };
  await assertServes(bench, ["base"], commit);
  return bench;
}

/** The page's message, or why there is none. */
async function serving(
  host: TestHost,
): Promise<{ message?: string; why: string; mix?: string }> {
  try {
    const page = await httpGet(`http://${host.ip}/`, { timeoutMs: 10_000 });
    const m = /<h1 id="message">([^<]*)<\/h1>/.exec(page.body);
    if (page.status === 200 && m) {
      const message = m[1].trim();
      const href = /<link rel="stylesheet" href="([^"]+)">/.exec(page.body)?.[1];
      const css = href
        ? await httpGet(`http://${host.ip}${href}`, { timeoutMs: 10_000 })
        : undefined;
      if (css?.status !== 200 || !css.body.includes(`/* release: ${message} */`)) {
        const mix = `the page of "${message}" links ${href}, which answers ${css?.status}: ${
          css?.body.trim().split("\n").at(-1)
        }`;
        return { message, why: `a mix: ${mix}`, mix };
      }
      return { message, why: "" };
    }
    return { why: `GET / answered ${page.status}: ${page.body.slice(0, 300)}` };
  } catch (err) {
    return { why: `GET / failed: ${err}` };
  }
}

/**
 * The site serves one of `messages`, and status, the live socket, the live static folder and
 * the records agree. A page with another release's static files (a mix) fails.
 */
async function assertServes(
  bench: Bench,
  messages: readonly string[],
  commitOf: string | ((message: string) => string),
): Promise<string> {
  // A run killed during its switch leaves that round trip running on the host for a moment (the
  // switch and root's record, one sudo): the page and status are read again once it has ended.
  for (let attempt = 1;; attempt++) {
    try {
      return await checkServes(bench, messages, commitOf);
    } catch (err) {
      if (attempt === 3 || !String(err).includes("status names what serves")) throw err;
      await sleep(1000);
    }
  }
}

async function checkServes(
  bench: Bench,
  messages: readonly string[],
  commitOf: string | ((message: string) => string),
): Promise<string> {
  const now = await serving(bench.host);
  assert.ok(now.message !== undefined, now.why);
  assert.ok(now.mix === undefined, now.why);
  assert.ok(messages.includes(now.message), `the site serves "${now.message}", not ${messages}`);
  const commit = typeof commitOf === "string" ? commitOf : commitOf(now.message);
  const status = await djaploy(bench.project, ["status", "--env", "test", "--json"]);
  ok(status, "status --json");
  const [host] = JSON.parse(status.stdout);
  assert.equal(host.live?.commit, commit, `status names what serves:\n${status.stdout}`);
  const [socket, slot, statics] = (await onHost(
    bench.host,
    "readlink /run/djaploy/hello.sock; sudo -n cat /var/lib/djaploy/apps/hello/active-slot; " +
      "readlink /var/lib/djaploy/apps/hello/static",
  )).split("\n");
  assert.equal(socket, `/run/hello-${slot}/hello.sock`, "traffic goes where the records say");
  assert.ok(
    statics?.endsWith(`/shared/staticfiles-${slot}`),
    `nginx serves the live slot's static files: the live-static link names ${statics}`,
  );
  assert.equal(host.active_slot, slot, `status names the live slot:\n${status.stdout}`);
  return now.message;
}

/** Parses `--json` events as they arrive and calls `onStep` with each step event. */
function eventReader(onStep: (step: string, status: string) => void) {
  let buffer = "";
  const events: Array<Record<string, unknown>> = [];
  let last = "";
  return {
    events,
    last: () => last,
    feed(chunk: string) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const e = JSON.parse(line);
        events.push(e);
        if (e.event === "step") {
          last = String(e.step);
          onStep(String(e.step), String(e.status));
        }
      }
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cutRules(ip: string, op: "-I" | "-D"): string {
  return `iptables -w ${op} INPUT -s ${ip} -j DROP && iptables -w ${op} OUTPUT -d ${ip} -j DROP`;
}

const CSS = "pages/static/pages/hello.css";

/**
 * Each release's stylesheet names its message: with ManifestStaticFilesStorage the page links
 * `hello.<hash>.css`, so a page whose stylesheet is missing or another release's is a mix of two
 * releases (code and manifest from one, static files from the other).
 */
async function writeCss(project: TestProject, message: string): Promise<void> {
  const css = await Deno.readTextFile(`${project.dir}/${CSS}`);
  await project.write(
    CSS,
    `${css.replace(/\n\/\* release: .* \*\/\n$/, "\n").trimEnd()}\n/* release: ${message} */\n`,
  );
}

/** Prepares the commit that makes `phase` slow enough to be hit, and commits it. */
async function commitCell(bench: Bench, phase: Phase, message: string): Promise<string> {
  const { project } = bench;
  await project.write("pages/message.txt", `${message}\n`);
  await writeCss(project, message);
  // Whatever the last cell made slow is not slow any more.
  await project.write("slow_start.txt", "0");
  if (phase === "upload") {
    const blob = new Uint8Array(16 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 65536) {
      crypto.getRandomValues(blob.subarray(i, i + 65536));
    }
    await Deno.writeFile(`${project.dir}/pages/blob.bin`, blob);
  }
  if (phase === "dependencies") {
    const req = await Deno.readTextFile(`${project.dir}/requirements.txt`);
    await project.write("requirements.txt", `${req.trimEnd()}\n# ${message}\n`);
  }
  if (phase === "migrate") {
    bench.migrations++;
    const n = bench.migrations;
    await project.write(
      `pages/migrations/${String(n).padStart(4, "0")}_pause.py`,
      sleepingMigration(n, 4),
    );
  }
  if (phase === "start") await project.write("slow_start.txt", "3");
  return await project.commit(message);
}

/** Injects `fault` now; resolves with a function that ends it (heals the host). */
async function inject(
  bench: Bench,
  fault: Fault,
  child: Deno.ChildProcess,
): Promise<() => Promise<void>> {
  const { host } = bench;
  switch (fault) {
    case "kill":
      try {
        child.kill("SIGKILL");
      } catch {
        // It had already ended.
      }
      return async () => {};
    case "net-blip": {
      await local(cutRules(host.ip, "-I"));
      const back = sleep(BLIP_MS).then(() => local(cutRules(host.ip, "-D")));
      return () => back;
    }
    case "net-down":
      await local(cutRules(host.ip, "-I"));
      return () => local(cutRules(host.ip, "-D"));
    case "sshd":
      await fast(host, "sudo -n systemctl restart ssh");
      return async () => {};
    case "reboot": {
      // The reboot starts at once; testhosts.sh then waits for the machine to stop and boots it.
      await fast(host, "sudo -n systemctl reboot").catch(() => {});
      const rebooted = host.reboot();
      return async () => {
        await rebooted;
      };
    }
    case "disk-full":
      await fast(
        host,
        `sudo -n sh -c 'fallocate -l $(df --output=avail -B1 ${APP_DIR} | tail -1) ${FILL} ||
          dd if=/dev/zero of=${FILL} bs=1M 2>/dev/null; df -h ${APP_DIR} >&2'`,
      );
      return async () => {
        await onHost(host, `sudo -n rm -f ${FILL}`);
      };
  }
}

/** Runs one cell: a deploy with `fault` at the start of `phase`, then the shared checks. */
export async function runCell(bench: Bench, phase: Phase, fault: Fault): Promise<CellResult> {
  const { host, project, strategy } = bench;
  bench.cells++;
  const message = `${strategy} ${fault} at ${phase} #${bench.cells}`;
  const previous = bench.live;
  const commit = await commitCell(bench, phase, message);
  const commits = new Map([[previous.message, previous.commit], [message, commit]]);

  // A slow request to the live release: the old slot drains while it runs.
  const inFlight = phase === "cleanup"
    ? httpGet(`http://${host.ip}/slow/?s=6`, { timeoutMs: 30_000 }).catch((e) => e)
    : undefined;
  if (inFlight) await sleep(300);

  const unreachableMs = await openControl(host);
  const trigger = TRIGGER[strategy][phase];
  let landedAfter = "";
  let child: Deno.ChildProcess | undefined;
  let injected: Promise<() => Promise<void>> | undefined;
  let faultAt = 0;
  const reader = eventReader((step) => {
    if (step === trigger && !injected && child) {
      faultAt = performance.now();
      injected = inject(bench, fault, child).then((heal) => {
        landedAfter = reader.last();
        return heal;
      });
    }
  });
  const faulted: DjaployResult = await djaploy(project, [...deployArgs(strategy), "--json"], {
    onSpawn: (c) => (child = c),
    onStdout: (chunk) => reader.feed(chunk),
    timeoutMs: 240_000,
  });
  const exitAfterMs = Math.round(performance.now() - faultAt);
  assert.ok(injected, `the fault was never injected (no "${trigger}" event):\n${faulted.output}`);
  const heal = await injected;
  await heal();
  await inFlight;

  const steps = reader.events.filter((e) => e.event === "step");
  const failed = steps.find((e) => e.status === "failed");
  const lastStep = String(steps.filter((e) => e.status !== "failed").at(-1)?.step ?? "");
  const error = (faulted.stderr.split("\n").find((l) => /error|failed|lost|refus/i.test(l)) ?? "")
    .trim().slice(0, 160);

  // After a reboot the host serves once its services are up: wait for that (and say how long).
  let note = unreachableMs > 0 ? `the host answered SSH ${unreachableMs} ms late` : "";
  if (fault === "reboot") {
    const t0 = performance.now();
    while (performance.now() - t0 < 30_000 && (await serving(host)).message === undefined) {
      await sleep(250);
    }
    note = `served ${Math.round(performance.now() - t0)} ms after SSH answered again`;
  }
  // Never a mix: each slot collects into its own folder, and nginx's link to it moves with
  // traffic, so the live release's static files and manifest are the ones it collected.
  const served = await assertServes(bench, [previous.message, message], (m) => commits.get(m)!);
  if (faulted.code === 0) {
    assert.equal(served, message, `djaploy said it deployed:\n${faulted.output}`);
  }

  // The next plain deploy: no unlock before it, and it serves the new commit.
  const next = await djaploy(project, deployArgs(strategy));
  ok(next, `the deploy after ${message}`);
  bench.live = { message, commit };
  await assertServes(bench, [message], commit);

  return {
    strategy,
    phase,
    fault,
    code: faulted.code,
    landedAfter,
    lastStep,
    failedStep: failed ? String(failed.step) : "",
    served: served === message ? "new" : "previous",
    exitAfterMs,
    error,
    nextMs: next.ms,
    note,
  };
}

/** One markdown table row per cell (docs/faults.md). */
export function formatCells(cells: readonly CellResult[]): string {
  const rows = cells.map((c) =>
    `| ${c.strategy} | ${c.phase} | ${c.fault} | ${c.landedAfter} | ${c.code} | ${
      c.failedStep || "-"
    } | ${c.lastStep || "-"} | ${c.served} | ${c.exitAfterMs} | ok (${
      (c.nextMs / 1000).toFixed(1)
    } s) | ${[c.error, c.note].filter(Boolean).join("; ").replaceAll("|", "/")} |`
  );
  return [
    "| strategy | phase | fault | in effect after | exit | failed step | last step done | served after | exit after fault (ms) | next deploy | notes |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}
