/**
 * `[processes]` and `[[schedule]]` through the strategies, on recorded
 * hosts: their units are written for the live release once traffic moves,
 * systemd reloads once, new units are enabled, the processes restart after
 * the switch (and after activate and rollback), and units no longer in the
 * config are stopped, disabled and deleted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/engine/module_api.ts";
import type { LoadedProject } from "../helpers/fixtures.ts";
import { layoutFor } from "../../lib/host/layout.ts";
import { activateStep, rollbackStep } from "../../lib/strategies/bluegreen.ts";
import { slotFacts, slotFiles } from "../../lib/strategies/slots.ts";
import { jobStatus, processStatusProbe, wantedUnits } from "../../lib/deploy/processes.ts";
import { jobLine } from "../../lib/commands/status.ts";
import { line } from "../helpers/strategy_runs.ts";
import {
  factsStdout,
  loadTestProject,
  sha256sumOutput,
  withTempDir,
  writeFiles,
  writtenFiles,
} from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  configurePlan,
  deployPlan,
  newRelease,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";

const toml = (strategy: string) =>
  `project_name = "hello"
deployment_strategy = "${strategy}"

[processes]
worker = "celery -A proj worker"

[[schedule]]
command = "clearsessions"
on_calendar = "daily"
`;

const UNITS = "/etc/systemd/system";
const APP = "/home/app/apps/hello";
const venv = (c: string) => `${APP}/shared/venv-${c.repeat(16)}-py3.11`;

const HARDENING = `# Confinement (djaploy; relax with [systemd] hardening).
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=tmpfs
BindReadOnlyPaths=/home/app/apps/hello
BindPaths=/home/app/data /home/app/apps/hello/shared/media
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0027
`;

const run = (dir: string, v: string) =>
  `User=app
Group=app
WorkingDirectory=${dir}
Environment=PATH=${v}/bin:/usr/local/bin:/usr/bin:/bin
Environment=VIRTUAL_ENV=${v}
EnvironmentFile=/etc/djaploy/apps/hello/env`;

const workerUnit = (dir: string, v: string) =>
  `# djaploy-managed: processes of hello
[Unit]
Description=hello: process worker
After=network.target

[Service]
Type=simple
${run(dir, v)}
ExecStart=/bin/sh -c "celery -A proj worker"
KillMode=mixed
TimeoutStopSec=30
Restart=always
RestartSec=2
${HARDENING}
[Install]
WantedBy=multi-user.target
`;

const jobUnit = (dir: string, v: string) =>
  `# djaploy-managed: processes of hello
[Unit]
Description=hello: scheduled job clearsessions

[Service]
Type=oneshot
${run(dir, v)}
ExecStart=${v}/bin/python manage.py clearsessions
${HARDENING}`;

const TIMER = `# djaploy-managed: processes of hello
[Unit]
Description=hello: timer of scheduled job clearsessions

[Timer]
OnCalendar=daily
Unit=hello-schedule-clearsessions.service
Persistent=true

[Install]
WantedBy=timers.target
`;

async function releaseIn(dir: string): Promise<ReleaseInfo> {
  const artifactDir = join(dir, "artifact");
  await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
  return newRelease(artifactDir);
}

/** The configured host's facts, with the process units on disk as written for `dir` and `v`. */
async function answersWithUnits(loaded: LoadedProject, dir?: string, v?: string) {
  const answers = await configuredHostAnswers(loaded);
  if (!dir || !v) return answers;
  const files = new Map(
    wantedUnits(loaded.host, layoutFor(loaded.host), { manageDir: dir, venv: v }).map((
      w,
    ) => [`${UNITS}/${w.unit}`, w.content]),
  );
  const units = [...files.keys()].map((p) => p.slice(UNITS.length + 1));
  return {
    ...answers,
    "file-hashes": { out: answers["file-hashes"].out + sha256sumOutput(files) },
    "process-units": { out: units.join("\n") + "\n" },
  };
}

Deno.test("processes: a first bluegreen deploy writes the units for the live slot, reloads once, enables them and restarts the worker after the switch", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("bluegreen"));
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: await releaseIn(dir),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const files = writtenFiles(r.exec.recorded);
    const v = venv("").replace("venv--", "venv-62aa83610c2f7060-");
    assert.equal(files.get(`${UNITS}/hello-worker.service`), workerUnit(`${APP}/slots/blue`, v));
    assert.equal(
      files.get(`${UNITS}/hello-schedule-clearsessions.service`),
      jobUnit(`${APP}/slots/blue`, v),
    );
    assert.equal(files.get(`${UNITS}/hello-schedule-clearsessions.timer`), TIMER);

    const lines = r.exec.lines();
    const at = (s: string) => lines.findIndex((l) => l.endsWith(s));
    const switched = at(" /run/djaploy/hello.sock /run/hello-blue/hello.sock");
    const timerWritten = lines.findIndex((l) =>
      l.includes(`${UNITS}/hello-schedule-clearsessions.timer`)
    );
    const reloads = lines.map((l, i) => [l, i] as const).filter(([l]) =>
      l.endsWith("systemctl daemon-reload")
    ).map(([, i]) => i);
    const enable = at(
      "systemctl enable --quiet -- hello-worker.service hello-schedule-clearsessions.timer",
    );
    const timer = at("systemctl restart -- hello-schedule-clearsessions.timer");
    const restart = at("systemctl restart hello-worker.service");
    assert.ok(switched > 0 && timerWritten > switched, lines.join("\n"));
    // One reload for the slot's unit before it starts, one for the three process units.
    assert.equal(reloads.filter((i) => i > switched).length, 1, lines.join("\n"));
    assert.ok(reloads.at(-1)! > timerWritten && enable > reloads.at(-1)!, lines.join("\n"));
    assert.ok(timer > enable && restart > timer, lines.join("\n"));
  });
});

const rec = (release: string, v: string) => ({
  release,
  commit: "c",
  ref: "main",
  tree: `tree-${release}`,
  venv: v,
  deployed_at: "2026-11-20T00:00:00Z",
  environment: "test",
});

const BOTH_RUNNING = {
  out: unitsShowOutput({
    "hello-blue.service": "enabled active",
    "hello-green.service": "enabled active",
  }),
};

for (
  const [name, step, state] of [
    [
      "activate",
      activateStep,
      { blue: "active", green: "staged" },
    ],
    [
      "rollback",
      rollbackStep,
      { blue: "active", green: "stopped" },
    ],
  ] as const
) {
  Deno.test(`processes: bluegreen ${name} moves the worker and the job to the other slot and restarts the worker`, async () => {
    await withTempDir(async (dir) => {
      const loaded = await loadTestProject(dir, toml("bluegreen"));
      const layout = layoutFor(loaded.host);
      const live = {
        strategy: "bluegreen",
        ...rec("r2", venv("b")),
        active: "blue",
        slots: {
          blue: { ...rec("r2", venv("b")), state: state.blue },
          green: { ...rec("r3", venv("c")), state: state.green },
        },
      };
      const r = await runRecorded({
        loaded,
        plan: {
          steps: [step],
          probes: slotFacts(loaded.host, layout),
          files: slotFiles(loaded.host, layout),
          packages: [],
        },
        facts: factsStdout({
          ...await answersWithUnits(loaded, `${APP}/slots/blue`, venv("b")),
          "deploy-state": { out: JSON.stringify(live) },
          "live-socket": { out: "/run/hello-blue/hello.sock\n" },
          "live-static": { out: "/home/app/apps/hello/shared/staticfiles-blue\n" },
          "slot-units": BOTH_RUNNING,
        }),
      });
      assert.equal(r.result.ok, true, String(r.result.error));
      const files = writtenFiles(r.exec.recorded);
      assert.equal(
        files.get(`${UNITS}/hello-worker.service`),
        workerUnit(`${APP}/slots/green`, venv("c")),
      );
      assert.equal(
        files.get(`${UNITS}/hello-schedule-clearsessions.service`),
        jobUnit(`${APP}/slots/green`, venv("c")),
      );
      // The timer did not change: not rewritten, not enabled again, not restarted.
      assert.equal(files.has(`${UNITS}/hello-schedule-clearsessions.timer`), false);
      const lines = r.exec.lines();
      const switched = lines.findIndex((l) =>
        l.endsWith(" /run/djaploy/hello.sock /run/hello-green/hello.sock")
      );
      const reload = lines.findIndex((l) => l.endsWith("systemctl daemon-reload"));
      const restart = lines.findIndex((l) => l.endsWith("systemctl restart hello-worker.service"));
      assert.ok(switched >= 0 && reload > switched && restart > reload, lines.join("\n"));
      assert.deepEqual(
        lines.filter((l) => / systemctl (enable|restart|daemon-reload)/.test(l)).map((l) =>
          l.replace(/^sudo -n -H -- /, "")
        ),
        [
          "systemctl daemon-reload",
          "systemctl enable --quiet -- hello-worker.service",
          "systemctl restart hello-worker.service",
        ],
      );
    });
  });
}

Deno.test("processes: a bluegreen deploy that only stages leaves the worker on the live slot, untouched", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("bluegreen"));
    const live = {
      strategy: "bluegreen",
      ...rec("r2", venv("b")),
      active: "blue",
      slots: { blue: { ...rec("r2", venv("b")), state: "active" } },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await answersWithUnits(loaded, `${APP}/slots/blue`, venv("b")),
        "deploy-state": { out: JSON.stringify(live) },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "live-static": { out: "/home/app/apps/hello/shared/staticfiles-blue\n" },
        "slot-units": BOTH_RUNNING,
      }),
      release: await releaseIn(dir),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const files = [...writtenFiles(r.exec.recorded).keys()];
    assert.deepEqual(files, [`${UNITS}/hello-green.service`]);
    const lines = r.exec.lines();
    assert.ok(lines.includes(line.start("hello-green.service")), lines.join("\n"));
    assert.equal(lines.some((l) => l.includes("hello-worker")), false, lines.join("\n"));
  });
});

Deno.test("processes: units no longer in the config are stopped, disabled and deleted, with one reload", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("zero_downtime"));
    const answers = await answersWithUnits(loaded, `${APP}/current`, venv("b"));
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...answers,
        "process-units": {
          out: answers["process-units"].out +
            "hello-rq.service\nhello-schedule-report.service\nhello-schedule-report.timer\n",
        },
      }),
      release: await releaseIn(dir),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines().map((l) => l.replace(/^sudo -n -H -- /, ""));
    const from = lines.findIndex((l) => l.startsWith("systemctl disable"));
    assert.deepEqual(lines.slice(from, from + 3), [
      "systemctl disable --now --quiet -- hello-rq.service hello-schedule-report.service hello-schedule-report.timer",
      `rm -f -- ${UNITS}/hello-rq.service ${UNITS}/hello-schedule-report.service ${UNITS}/hello-schedule-report.timer`,
      "systemctl daemon-reload",
    ]);
    // zero_downtime's units run in `current`, which the switch moved: rewritten for the new venv.
    const v = venv("").replace("venv--", "venv-62aa83610c2f7060-");
    assert.equal(
      writtenFiles(r.exec.recorded).get(`${UNITS}/hello-worker.service`),
      workerUnit(`${APP}/current`, v),
    );
    assert.equal(lines.filter((l) => l === "systemctl daemon-reload").length, 2, lines.join("\n"));
    assert.ok(lines.at(-1) === "systemctl restart hello-worker.service", lines.join("\n"));
  });
});

Deno.test("processes: in_place runs them in code/ with the venv link and restarts them with the services", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("in_place"));
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: await releaseIn(dir),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.equal(
      writtenFiles(r.exec.recorded).get(`${UNITS}/hello-worker.service`),
      workerUnit(`${APP}/code`, `${APP}/venv`),
    );
    assert.ok(
      r.exec.lines().includes("sudo -n -H -- systemctl restart hello hello-worker.service"),
      r.exec.lines().join("\n"),
    );
  });
});

Deno.test("processes: status reads each job's last result and next run from systemd", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      `project_name = "hello"

[[schedule]]
command = "clearsessions"
on_calendar = "daily"

[[schedule]]
name = "report"
shell = "exit 3"
on_calendar = "weekly"

[[schedule]]
command = "never"
on_calendar = "monthly"
`,
    );
    const probe = processStatusProbe(loaded.host);
    assert.deepEqual(probe.argv, [
      "systemctl",
      "show",
      "--property=Id,ActiveState,Result,ExecMainStatus,ExecMainExitTimestamp,NextElapseUSecRealtime,LastTriggerUSec",
      "--",
      "hello-schedule-clearsessions.service",
      "hello-schedule-clearsessions.timer",
      "hello-schedule-report.service",
      "hello-schedule-report.timer",
      "hello-schedule-never.service",
      "hello-schedule-never.timer",
    ]);
    const units = probe.parse(
      [
        "Id=hello-schedule-clearsessions.service\nActiveState=inactive\nResult=success\nExecMainStatus=0\nExecMainExitTimestamp=Wed 2026-12-02 03:00:01 UTC\n",
        "Id=hello-schedule-clearsessions.timer\nActiveState=active\nNextElapseUSecRealtime=Thu 2026-12-03 00:00:00 UTC\n",
        "Id=hello-schedule-report.service\nActiveState=failed\nResult=exit-code\nExecMainStatus=3\nExecMainExitTimestamp=Wed 2026-12-02 04:00:00 UTC\n",
        "Id=hello-schedule-report.timer\nActiveState=active\nNextElapseUSecRealtime=\n",
        "Id=hello-schedule-never.service\nActiveState=inactive\nResult=success\nExecMainStatus=0\nExecMainExitTimestamp=\n",
        "Id=hello-schedule-never.timer\nActiveState=active\n",
      ].join("\n"),
      0,
    );
    const [ok, failed, never] = loaded.host.schedule.map((e) => jobStatus(loaded.host, e, units));
    assert.deepEqual(ok, {
      unit: "hello-schedule-clearsessions.service",
      on_calendar: "daily",
      last: "succeeded",
      last_run: "Wed 2026-12-02 03:00:01 UTC",
      next_run: "Thu 2026-12-03 00:00:00 UTC",
    });
    assert.equal(
      jobLine("report", failed),
      "schedule report (weekly): last run FAILED (exit-code, exit status 3) at Wed 2026-12-02 " +
        "04:00:00 UTC; see: djaploy logs report",
    );
    assert.equal(jobLine("never", never), "schedule never (monthly): never run");
  });
});

Deno.test("processes: configure on a live host rewrites a changed process, restarts only it, and removes a job no longer listed", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("bluegreen"));
    const live = {
      strategy: "bluegreen",
      ...rec("r2", venv("b")),
      active: "green",
      slots: { green: { ...rec("r2", venv("b")), state: "active" } },
    };
    const answers = await answersWithUnits(loaded, `${APP}/slots/green`, venv("b"));
    // On the server: the worker with an older command, and a job since removed from the config.
    const hashes = answers["file-hashes"].out.split("\n").filter((l) =>
      !l.endsWith("/hello-worker.service")
    ).join("\n");
    const r = await runRecorded({
      loaded,
      plan: await configurePlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...answers,
        "file-hashes": { out: hashes + `${"0".repeat(64)}  ${UNITS}/hello-worker.service\n` },
        "process-units": { out: answers["process-units"].out + "hello-schedule-old.timer\n" },
        "deploy-state": { out: JSON.stringify(live) },
      }),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual([...writtenFiles(r.exec.recorded)], [[
      `${UNITS}/hello-worker.service`,
      workerUnit(`${APP}/slots/green`, venv("b")),
    ]]);
    const lines = r.exec.lines().map((l) => l.replace(/^sudo -n -H -- /, ""));
    const from = lines.findIndex((l) => l.startsWith("systemctl disable"));
    assert.deepEqual(lines.slice(from), [
      "systemctl disable --now --quiet -- hello-schedule-old.timer",
      `rm -f -- ${UNITS}/hello-schedule-old.timer`,
      "systemctl daemon-reload",
      "systemctl enable --quiet -- hello-worker.service",
      "systemctl restart hello-worker.service",
    ]);
  });
});

Deno.test("processes: configure before the first deploy writes none of their units", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml("bluegreen"));
    const r = await runRecorded({
      loaded,
      plan: await configurePlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({}),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.equal(
      [...writtenFiles(r.exec.recorded).keys()].some((p) => p.includes("worker")),
      false,
    );
    assert.equal(r.exec.lines().some((l) => l.includes("hello-worker")), false);
  });
});
