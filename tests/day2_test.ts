/**
 * The day-2 commands at the cheapest level: where the live release runs for
 * each strategy, and the exact commands manage, exec, logs, ssh and
 * maintenance send, recorded.
 */
import assert from "node:assert/strict";
import { UserError } from "../lib/errors.ts";
import { layoutFor } from "../lib/host/layout.ts";
import type { DeployState } from "../lib/deploy/steps.ts";
import { appUnits, liveTarget, unitFor } from "../lib/deploy/live_target.ts";
import { RecordingExecutor } from "../lib/exec/recording_executor.ts";
import type { RemoteCommand } from "../lib/exec/remote_command.ts";
import { runManage } from "../lib/commands/manage.ts";
import { exitCodeOf, runExec } from "../lib/commands/exec.ts";
import { followLogs, journalCommand, showLogs } from "../lib/commands/logs.ts";
import { shellCommand } from "../lib/commands/ssh.ts";
import { customPage } from "../lib/commands/maintenance.ts";
import {
  maintenanceOffStep,
  maintenanceOnStep,
  maintenanceProbe,
} from "../lib/host/maintenance.ts";
import { maintenancePage, maintenanceSnippet } from "../templates/nginx_maintenance.ts";
import { main } from "../cli.ts";
import {
  collectingUi,
  factsAnswer,
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  loadTestProject,
  withTempDir,
  writeFiles,
} from "./helpers/fixtures.ts";
import { runRecorded } from "./helpers/plans.ts";

const APP = "/home/app/apps/hello";

function record(over: Partial<DeployState> = {}): DeployState {
  return {
    strategy: "in_place",
    release: "20261126T070102Z-abc1234",
    commit: "abc1234".padEnd(40, "0"),
    ref: "main",
    tree: "t",
    venv: `${APP}/shared/venv-aaa-py3.11`,
    deployed_at: "2026-11-26T07:01:02Z",
    environment: "test",
    ...over,
  };
}

const BLUEGREEN = record({
  strategy: "bluegreen",
  active: "green",
  venv: `${APP}/shared/venv-old-py3.11`,
  slots: {
    blue: { ...record({ venv: `${APP}/shared/venv-old-py3.11` }), state: "staged" },
    green: { ...record({ venv: `${APP}/shared/venv-new-py3.11` }), state: "active" },
  },
});

async function withProject(
  toml: string,
  fn: (loaded: LoadedProject) => Promise<void>,
  inventory?: string,
): Promise<void> {
  await withTempDir(async (dir) => fn(await loadTestProject(dir, toml, inventory)));
}

const HELLO = 'project_name = "hello"\n';

/** A recording executor whose facts command finds `state` in state.json. */
function recorder(
  host: string,
  state: DeployState | undefined,
  respond: (cmd: RemoteCommand) => { code?: number; stdout?: string } | undefined = () => undefined,
): RecordingExecutor {
  const facts = factsStdout(
    state
      ? { "deploy-state": { out: JSON.stringify(state) } }
      : { "deploy-state": { out: "", code: 1 } },
  );
  return new RecordingExecutor({
    host,
    sshUser: "deploy",
    respond: (cmd) => isFactsCommand(cmd) ? factsAnswer(cmd, facts) : respond(cmd),
  });
}

Deno.test("live target: in_place runs code/ with the venv link", async () => {
  await withProject(HELLO, ({ host }) => {
    const t = liveTarget(host, layoutFor(host), record());
    assert.deepEqual(t, {
      strategy: "in_place",
      codeDir: `${APP}/code`,
      manageDir: `${APP}/code`,
      python: `${APP}/venv/bin/python`,
      webUnit: "hello.service",
    });
    return Promise.resolve();
  });
});

Deno.test("live target: zero_downtime runs current, bluegreen the active slot, each with its venv", async () => {
  await withProject(HELLO + 'manage_py = "src/manage.py"\n', ({ host }) => {
    const layout = layoutFor(host);
    const zd = liveTarget(host, layout, { ...BLUEGREEN, strategy: "zero_downtime" });
    assert.equal(zd.codeDir, `${APP}/current`);
    assert.equal(zd.manageDir, `${APP}/current/src`);
    assert.equal(zd.python, `${APP}/shared/venv-new-py3.11/bin/python`);
    assert.equal(zd.webUnit, "hello-green.service");
    const bg = liveTarget(host, layout, BLUEGREEN);
    assert.equal(bg.codeDir, `${APP}/slots/green`);
    assert.equal(bg.manageDir, `${APP}/slots/green/src`);
    assert.equal(bg.python, `${APP}/shared/venv-new-py3.11/bin/python`);
    return Promise.resolve();
  });
});

Deno.test("live target: nothing deployed, or no live slot, is a clear error", async () => {
  await withProject(HELLO, ({ host }) => {
    assert.throws(
      () => liveTarget(host, layoutFor(host), undefined),
      (e: Error) =>
        e instanceof UserError &&
        e.message ===
          `Deploy to web1 first: nothing is deployed there (no /var/lib/djaploy/apps/hello/state.json)`,
    );
    assert.throws(
      () => liveTarget(host, layoutFor(host), { ...BLUEGREEN, active: undefined }),
      /Activate a slot on web1 first: bluegreen staged a release but none is live/,
    );
    return Promise.resolve();
  });
});

Deno.test("logs: the web unit that serves, then the workers; SERVICE picks one", async () => {
  await withProject(HELLO + 'services = ["hello", "hello-worker"]\n', ({ host }) => {
    const bg = liveTarget(host, layoutFor(host), BLUEGREEN);
    assert.deepEqual(appUnits(host, bg), ["hello-green.service", "hello-worker"]);
    assert.equal(unitFor(host, bg, "hello"), "hello-green.service");
    assert.equal(unitFor(host, bg, "web"), "hello-green.service");
    assert.equal(unitFor(host, bg, "nginx"), "nginx");
    assert.deepEqual(
      journalCommand(["hello.service"], { follow: true, lines: 100, since: "1 hour ago" }),
      {
        argv: [
          "journalctl",
          "--no-pager",
          "-n",
          "100",
          "--since",
          "1 hour ago",
          "-f",
          "-u",
          "hello.service",
        ],
        as: "root",
      },
    );
    return Promise.resolve();
  });
});

Deno.test("manage: manage.py of the live release as the app user, with a terminal when asked; its exit code", async () => {
  await withProject(HELLO, async ({ host }) => {
    const exec = recorder(
      host.name,
      record(),
      (cmd) => cmd.argv.includes("migrate") ? { code: 3 } : undefined,
    );
    const code = await runManage({ host, exec, args: ["showmigrations", "pages"], tty: true });
    assert.equal(code, 0);
    assert.deepEqual(exec.lines().slice(1), [
      `sudo -n -H -u app -- env -C ${APP}/code /etc/djaploy/apps/hello/run ${APP}/venv/bin/python manage.py showmigrations pages  [interactive, tty]`,
    ]);
    assert.equal(await runManage({ host, exec, args: ["migrate"], tty: false }), 3);
    const bg = recorder(host.name, BLUEGREEN);
    await runManage({ host, exec: bg, args: ["shell"], tty: false });
    assert.match(
      bg.lines()[1],
      new RegExp(
        `env -C ${APP}/slots/green /etc/djaploy/apps/hello/run ${APP}/shared/venv-new-py3.11/bin/python manage.py shell  \\[interactive\\]$`,
      ),
    );
  });
});

Deno.test("manage: nothing deployed fails before running anything", async () => {
  await withProject(HELLO, async ({ host }) => {
    const exec = recorder(host.name, undefined);
    await assert.rejects(
      runManage({ host, exec, args: ["shell"], tty: false }),
      /Deploy to web1 first/,
    );
    assert.equal(exec.lines().length, 1, "only the state was read");
  });
});

const TWO_HOSTS = '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n' +
  '[[hosts]]\nname = "web2"\nssh_hostname = "10.0.0.2"\n';

Deno.test("exec: every host, each line prefixed; stderr joined, no stdin; non-zero if any failed", async () => {
  await withProject(HELLO, async ({ env }) => {
    const { ui, out } = collectingUi();
    const execs = new Map<string, RecordingExecutor>();
    const outcomes = await runExec({
      ui,
      hosts: env.hosts,
      argv: ["uptime", "-p"],
      appUser: false,
      executor: (h) => {
        const e = new RecordingExecutor({
          host: h.name,
          sshUser: h.ssh_user,
          respond: () =>
            h.name === "web1"
              ? { stdout: "up 3 days\nsecond line\n" }
              : { stdout: "broken\n", code: 2 },
        });
        execs.set(h.name, e);
        return e;
      },
    });
    // Hosts run at once: their lines interleave, each host's in order.
    const lines = out.join("").split("\n").filter(Boolean);
    assert.deepEqual(lines.filter((l) => l.startsWith("web1 ")), [
      "web1 | up 3 days",
      "web1 | second line",
    ]);
    assert.deepEqual(lines.filter((l) => l.startsWith("web2 ")), ["web2 | broken"]);
    assert.deepEqual(outcomes, [{ host: "web1", code: 0 }, { host: "web2", code: 2 }]);
    assert.equal(exitCodeOf(outcomes), 1);
    assert.equal(exitCodeOf([{ host: "web2", code: 2 }]), 2, "one host: its own code");
    assert.deepEqual(execs.get("web1")!.lines(), [
      `sh -c 'exec "$@" </dev/null 2>&1' sh uptime -p`,
    ]);
  }, TWO_HOSTS);
});

Deno.test("exec --app-user: bin/run as the app user in the app's folder", async () => {
  await withProject(HELLO, async ({ env }) => {
    const { ui } = collectingUi();
    const exec = new RecordingExecutor({ host: "web1", sshUser: "deploy" });
    await runExec({ ui, hosts: env.hosts, argv: ["ls"], appUser: true, executor: () => exec });
    assert.deepEqual(exec.lines(), [
      `sudo -n -H -u app -- env -C ${APP} sh -c 'exec "$@" </dev/null 2>&1' sh /etc/djaploy/apps/hello/run ls`,
    ]);
  });
});

Deno.test("logs: several hosts are prefixed; a host that fails is named and the rest still show", async () => {
  await withProject(HELLO, async ({ env }) => {
    const { ui, out, err } = collectingUi();
    const code = await showLogs({
      ui,
      hosts: env.hosts,
      logs: { follow: false, lines: 5 },
      executor: (h) =>
        h.name === "web1"
          ? recorder("web1", record(), () => ({ stdout: "Booting worker with pid: 7\n" }))
          : recorder("web2", undefined),
    });
    assert.equal(code, 1);
    assert.equal(out.join(""), "web1 | Booting worker with pid: 7\n");
    assert.match(err.join(""), /^web2: Deploy to web2 first/m);
  }, TWO_HOSTS);
});

Deno.test("logs -f: journalctl -f of the live slot's unit, attached; stopping it is success", async () => {
  await withProject(HELLO, async ({ host }) => {
    const exec = recorder(host.name, BLUEGREEN, () => ({ code: 255 }));
    const stop = new AbortController();
    stop.abort();
    const code = await followLogs({
      host,
      exec,
      logs: { follow: true, lines: 100 },
      tty: false,
      signal: stop.signal,
    });
    assert.equal(code, 0);
    assert.equal(
      exec.lines()[1],
      "sudo -n -H -- journalctl --no-pager -n 100 -f -u hello-green.service  [interactive]",
    );
  });
});

Deno.test("ssh: the ssh user's login shell, or bash as the app user in the app's folder", async () => {
  await withProject(HELLO, ({ host }) => {
    assert.deepEqual(shellCommand(host, false), { argv: [] });
    assert.deepEqual(shellCommand(host, true), { argv: ["bash", "-l"], as: "app", cwd: APP });
    return Promise.resolve();
  });
});

const SNIPPETS = "/etc/nginx/djaploy.d/hello";
const FACTS = "sudo -n -H -- sh -c '(exec 2>/dev/null…' sh";
const put = (path: string) => `sudo -n -H -- sh -c 'set -e…' sh ${path} root:root 0644 < [stdin]`;

function maintenancePlan(loaded: LoadedProject, on: boolean) {
  const layout = layoutFor(loaded.host);
  return {
    steps: [
      on
        ? maintenanceOnStep({ page: () => "<p>page</p>", note: "me@laptop, now" })
        : maintenanceOffStep,
    ],
    probes: [maintenanceProbe(layout)],
    files: [`${SNIPPETS}/maintenance.html`],
    packages: [],
  };
}

Deno.test("maintenance on: page, snippet, nginx -t, reload, then waits for the 503", async () => {
  await withProject(HELLO, async (loaded) => {
    const r = await runRecorded({
      loaded,
      plan: maintenancePlan(loaded, true),
      facts: factsStdout({ "maintenance-snippet": { out: "", code: 1 } }),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    assert.deepEqual(lines.slice(0, 6), [
      FACTS,
      `sudo -n -H -- install -d -m 0755 ${SNIPPETS}`,
      put(`${SNIPPETS}/maintenance.html`),
      put(`${SNIPPETS}/maintenance.conf`),
      "sudo -n -H -- nginx -t -q",
      "sudo -n -H -- systemctl reload-or-restart nginx",
    ]);
    assert.match(lines[6], /^python3 -c 'import http\.client.*' 80 10\.0\.0\.1 1 50$/);
    const snippet = r.exec.recorded.find((c) =>
      c.command?.argv.includes(`${SNIPPETS}/maintenance.conf`)
    );
    assert.equal(
      snippet?.command?.stdin,
      maintenanceSnippet({
        root: SNIPPETS,
        page: "maintenance.html",
        retryAfter: 300,
        note: "me@laptop, now",
      }),
    );
  });
});

Deno.test("maintenance on when on: only the page is refreshed, no reload", async () => {
  await withProject(HELLO, async (loaded) => {
    const r = await runRecorded({
      loaded,
      plan: maintenancePlan(loaded, true),
      facts: factsStdout({
        "maintenance-snippet": { out: "# Written by djaploy maintenance on (a@b, then).\n" },
      }),
    });
    assert.equal(r.result.ok, true);
    assert.ok(
      !r.exec.lines().some((l) => /nginx -t|reload/.test(l)),
      r.exec.lines().join("\n"),
    );
    assert.match(r.out, /already on \(a@b, then\)/);
  });
});

Deno.test("maintenance on: a snippet nginx refuses is removed again and the run fails", async () => {
  await withProject(HELLO, async (loaded) => {
    const r = await runRecorded({
      loaded,
      plan: maintenancePlan(loaded, true),
      facts: factsStdout({ "maintenance-snippet": { out: "", code: 1 } }),
      respond: (cmd) =>
        cmd.argv.includes("-t") ? { code: 1, stderr: "nginx: [emerg] bad" } : undefined,
    });
    assert.equal(r.result.ok, false);
    assert.match(String(r.result.error), /nginx -t failed/);
    assert.equal(r.exec.lines().at(-1), `sudo -n -H -- rm -f ${SNIPPETS}/maintenance.conf`);
  });
});

Deno.test("maintenance off: removes snippet and page, reloads; when off, does nothing", async () => {
  await withProject(HELLO, async (loaded) => {
    const on = await runRecorded({
      loaded,
      plan: maintenancePlan(loaded, false),
      facts: factsStdout({ "maintenance-snippet": { out: "# on\n" } }),
    });
    const lines = on.exec.lines();
    assert.deepEqual(lines.slice(1, 4), [
      `sudo -n -H -- rm -f ${SNIPPETS}/maintenance.conf`,
      "sudo -n -H -- nginx -t -q",
      "sudo -n -H -- systemctl reload-or-restart nginx",
    ]);
    assert.match(lines[4], / 80 10\.0\.0\.1 0 50$/);
    assert.equal(
      lines[5],
      `sudo -n -H -- rm -f ${SNIPPETS}/maintenance.html`,
      "the page goes last",
    );
    const off = await runRecorded({
      loaded,
      plan: maintenancePlan(loaded, false),
      facts: factsStdout({ "maintenance-snippet": { out: "", code: 1 } }),
    });
    assert.deepEqual(off.exec.lines(), [FACTS]);
  });
});

Deno.test("maintenance: the snippet returns 503 at server level, lets ACME through, serves the page by name", () => {
  const text = maintenanceSnippet({
    root: SNIPPETS,
    page: "maintenance.html",
    retryAfter: 300,
    note: "n",
  });
  assert.match(text, /^error_page 503 @djaploy_maintenance;$/m);
  assert.match(
    text,
    /^if \(\$uri !~ \^\/\\\.well-known\/acme-challenge\/\) \{\n {4}return 503;\n\}$/m,
  );
  assert.match(text, /location @djaploy_maintenance \{\n {4}root \/etc\/nginx\/djaploy\.d\/hello;/);
  assert.match(maintenancePage("a<b"), /a&#60;b is being updated/);
});

Deno.test("maintenance: the project's own page comes from deploy_files", async () => {
  await withProject(HELLO, async ({ project, host }) => {
    assert.equal(await customPage(project.infra_dir, "test", host), undefined);
    await writeFiles(project.infra_dir, {
      "deploy_files/test/etc/nginx/djaploy.d/hello/maintenance.html": "<h1>Ours</h1>\n",
    });
    assert.equal(await customPage(project.infra_dir, "test", host), "<h1>Ours</h1>\n");
  });
});

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal: false,
  });
  return { code, out: out.join(""), err: err.join("") };
}

Deno.test("cli: day-2 usage errors exit 2 before any connection", async () => {
  const manage = await cli(["manage", "--env", "test"]);
  assert.equal(manage.code, 2);
  assert.equal(
    manage.err,
    "error: Give manage.py's arguments after --: nothing to run\n" +
      "hint: Example: djaploy manage --env production -- createsuperuser\n",
  );
  const exec = await cli(["exec", "--env", "test"]);
  assert.equal(exec.code, 2);
  assert.match(exec.err, /Give the command to run after --/);
  const maint = await cli(["maintenance", "sideways", "--env", "test"]);
  assert.equal(maint.code, 2);
  assert.match(maint.err, /^error: Say on, off or status: djaploy maintenance sideways$/m);
  const logs = await cli(["logs", "a", "b"]);
  assert.equal(logs.code, 2);
  assert.match(logs.err, /Name at most one service: got a b/);
  const ssh = await cli(["ssh", "--", "ls"]);
  assert.equal(ssh.code, 2);
  assert.match(ssh.err, /djaploy ssh opens a shell and runs no command/);
});

Deno.test("cli: --host takes one name, and an unknown one is named", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "infra/djaploy.toml": HELLO,
      "infra/inventory/test.toml": TWO_HOSTS,
    });
    const config = `${dir}/infra/djaploy.toml`;
    const two = await cli(["ssh", "--config", config, "--env", "test", "--host", "web1,web2"]);
    assert.equal(two.code, 2);
    assert.match(two.err, /--host takes one host name: got "web1,web2"/);
    const unknown = await cli(["ssh", "--config", config, "--env", "test", "--host", "web9"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /web9/);
  });
});
