/**
 * End to end, the day-2 commands on deployed hosts: manage.py in the live
 * release (in_place, zero_downtime and bluegreen), exec on several hosts,
 * logs (and following them), ssh, and maintenance mode in nginx.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  httpGet,
  makeProject,
  TEST_SECRET,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";

function ok(r: DjaployResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
  assert.ok(!r.output.includes(TEST_SECRET), `${what} printed the secret`);
}

async function deployed(hosts: TestHost[], strategy = "in_place"): Promise<TestProject> {
  const project = await makeProject({ hosts, strategy });
  ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
  ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy");
  return project;
}

function count(text: string, re: RegExp): number {
  return [...text.matchAll(new RegExp(re.source, "g"))].length;
}

e2eTest("manage, exec, logs, ssh on two in_place hosts", async () => {
  await withHosts(["web-1", "web-2"], async (hosts) => {
    const project = await deployed(hosts);

    // manage: manage.py of the live release, as the app user, with the app's env.
    const migrations = await djaploy(project, ["manage", "--env", "test", "--", "showmigrations"]);
    ok(migrations, "manage showmigrations");
    assert.match(migrations.stdout, /^pages\n \[X\] 0001_initial$/m);
    assert.match(migrations.stderr, /runs on web-1, the first of 2 hosts/);
    const who = await djaploy(project, [
      "manage",
      "--env",
      "test",
      "--host",
      "web-2",
      "--",
      "shell",
      "-c",
      "import getpass, os; print(getpass.getuser(), os.getcwd(), os.environ['DJANGO_SETTINGS_MODULE'])",
    ]);
    ok(who, "manage shell -c");
    assert.equal(who.stdout.trim(), "app /home/app/apps/hello/code hello.settings");
    assert.equal(who.stderr, "", "one host named: no note");
    const piped = await djaploy(project, ["manage", "--env", "test", "--", "shell"], {
      stdin: "from pages.models import Visit\nprint('visits', Visit.objects.count() >= 0)\n",
    });
    ok(piped, "manage shell with stdin");
    assert.match(piped.stdout, /visits True/);
    const unknown = await djaploy(project, ["manage", "--env", "test", "--", "nosuchcommand"]);
    assert.equal(unknown.code, 1, "manage.py's exit code is djaploy's");
    assert.match(unknown.output, /Unknown command: 'nosuchcommand'/);

    // exec: every host at once, each line prefixed.
    const uptime = await djaploy(project, ["exec", "--env", "test", "--", "uptime"]);
    ok(uptime, "exec uptime");
    assert.match(uptime.stdout, /^web-1 \| .*load average/m);
    assert.match(uptime.stdout, /^web-2 \| .*load average/m);
    const failing = await djaploy(project, [
      "exec",
      "--env",
      "test",
      "--",
      "sh",
      "-c",
      'echo "on $(hostname)"; [ "$(hostname)" = "$1" ] || exit 3',
      "sh",
      "djt-none",
    ]);
    assert.equal(failing.code, 1, failing.output);
    assert.match(failing.stderr, /web-1: exit code 3/);
    assert.match(failing.stderr, /2 of 2 hosts failed/);
    const one = await djaploy(project, [
      "exec",
      "--env",
      "test",
      "--hosts",
      "web-2",
      "--",
      "sh",
      "-c",
      "echo to stderr >&2; exit 4",
    ]);
    assert.equal(one.code, 4, "one host: its own exit code");
    assert.match(one.stdout, /^web-2 \| to stderr$/m, "stderr is prefixed too");
    const app = await djaploy(project, [
      "exec",
      "--env",
      "test",
      "--app-user",
      "--",
      "sh",
      "-c",
      'echo "$(id -un) $(pwd) $DJANGO_SETTINGS_MODULE"',
    ]);
    ok(app, "exec --app-user");
    assert.match(app.stdout, /^web-1 \| app \/home\/app\/apps\/hello hello\.settings$/m);

    // logs: the app unit's journal, prefixed with several hosts.
    const journal = await djaploy(project, ["logs", "--env", "test"]);
    ok(journal, "logs");
    assert.match(journal.stdout, /^web-1 \| .*Booting worker/m);
    assert.match(journal.stdout, /^web-2 \| .*Booting worker/m);
    const few = await djaploy(project, ["logs", "--env", "test", "--host", "web-1", "-n", "3"]);
    ok(few, "logs -n 3");
    assert.equal(few.stdout.trim().split("\n").length, 3, few.stdout);

    // logs -f: new lines arrive until djaploy is stopped.
    const before = count(journal.stdout, /^web-1 \| .*Booting worker/m);
    const follow = await djaploy(project, ["logs", "--env", "test", "--host", "web-1", "-f"], {
      onSpawn: (child) => {
        setTimeout(async () => {
          await hosts[0].ssh("sudo -n systemctl restart hello");
          setTimeout(() => child.kill("SIGTERM"), 2000);
        }, 2000);
      },
      timeoutMs: 60_000,
    });
    assert.equal(follow.code, 0, `logs -f stopped by SIGTERM exits 0:\n${follow.output}`);
    assert.ok(
      count(follow.stdout, /Booting worker/) >= before + 2,
      `logs -f shows the restarted workers:\n${follow.stdout}`,
    );
    assert.equal(
      (await hosts[0].ssh("pgrep -x journalctl || true")).stdout.trim(),
      "",
      "no journalctl -f is left on the host",
    );

    // ssh: a shell as the ssh user, or as the app user in the app's folder.
    const shell = await djaploy(project, ["ssh", "--env", "test", "--host", "web-2"], {
      stdin: 'echo "$(id -un) on $(hostname -I)"\n',
    });
    ok(shell, "ssh");
    assert.match(
      shell.stdout,
      new RegExp(`^deploy on ${hosts[1].ip.replaceAll(".", "\\.")}\\b`, "m"),
    );
    const appShell = await djaploy(project, ["ssh", "--env", "test", "--app-user"], {
      stdin: 'echo "$(id -un) $(pwd)"; exit 7\n',
    });
    assert.equal(appShell.code, 7, "the shell's exit code is djaploy's");
    assert.match(appShell.stdout, /^app \/home\/app\/apps\/hello$/m);
  });
});

e2eTest("maintenance on: nginx answers 503 with the page; off: the app again", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await deployed([host]);
    const base = `http://${host.ip}`;
    const css = /href="(\/static\/[^"]+\.css)"/.exec((await httpGet(`${base}/`)).body)?.[1];
    assert.ok(css);

    ok(await djaploy(project, ["maintenance", "on", "--env", "test"]), "maintenance on");
    for (const path of ["/", "/health/", css]) {
      const page = await httpGet(`${base}${path}`);
      assert.equal(page.status, 503, `${path} answers 503`);
      assert.match(page.body, /Down for maintenance/);
      assert.equal(page.headers["retry-after"], "300");
    }
    const status = await djaploy(project, ["maintenance", "status", "--env", "test"]);
    ok(status, "maintenance status");
    assert.match(status.stdout, /^web-1: maintenance on \(.+@.+, \d{4}-\d\d-\d\dT/m);
    const again = await djaploy(project, ["maintenance", "on", "--env", "test", "-v"]);
    ok(again, "maintenance on again");
    assert.match(again.output, /already on/);

    // A redeploy keeps maintenance mode (the snippet is not the site's).
    await project.write("pages/message.txt", "Behind the page\n");
    await project.commit("While in maintenance");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy in maintenance");
    assert.equal((await httpGet(`${base}/`)).status, 503);

    ok(await djaploy(project, ["maintenance", "off", "--env", "test"]), "maintenance off");
    const back = await httpGet(`${base}/`);
    assert.equal(back.status, 200);
    assert.match(back.body, /Behind the page/);
    assert.equal((await httpGet(`${base}${css}`)).status, 200);
    const off = await djaploy(project, ["maintenance", "status", "--env", "test"]);
    assert.match(off.stdout, /^web-1: maintenance off$/m);

    // The project's own page, from deploy_files.
    await project.write(
      "infra/deploy_files/test/etc/nginx/djaploy.d/hello/maintenance.html",
      "<h1>Our own page</h1>\n",
    );
    const dry = await djaploy(project, ["maintenance", "on", "--env", "test", "--dry-run"]);
    ok(dry, "maintenance on --dry-run");
    assert.match(dry.output, /a real run would send \d+ commands/);
    assert.equal((await httpGet(`${base}/`)).status, 200, "a dry run changes nothing");
    ok(await djaploy(project, ["maintenance", "on", "--env", "test"]), "maintenance on (own page)");
    const own = await httpGet(`${base}/`);
    assert.equal(own.status, 503);
    assert.equal(own.body, "<h1>Our own page</h1>\n");
    ok(await djaploy(project, ["maintenance", "off", "--env", "test"]), "maintenance off");
    assert.equal((await httpGet(`${base}/`)).status, 200);
  });
});

for (const strategy of ["zero_downtime", "bluegreen"]) {
  e2eTest(`manage and logs act on the live release (${strategy})`, async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await deployed([host], strategy);
      const r = await djaploy(project, [
        "manage",
        "--env",
        "test",
        "--",
        "shell",
        "-c",
        "import os, sys; print(os.getcwd()); print(sys.prefix)",
      ]);
      ok(r, "manage");
      const [cwd, prefix] = r.stdout.trim().split("\n");
      const state = JSON.parse(
        (await host.ssh("sudo -n cat /var/lib/djaploy/apps/hello/state.json")).stdout,
      );
      if (strategy === "zero_downtime") {
        const current = (await host.ssh("readlink -f /home/app/apps/hello/current")).stdout.trim();
        assert.equal(cwd, current);
      } else {
        assert.equal(cwd, `/home/app/apps/hello/slots/${state.active}`);
      }
      assert.equal(prefix, state.slots[state.active].venv, "the live slot's virtualenv");

      ok(await djaploy(project, ["manage", "--env", "test", "--", "showmigrations"]), "manage");
      const journal = await djaploy(project, ["logs", "--env", "test"]);
      ok(journal, "logs");
      assert.match(journal.stdout, /Booting worker/);
      assert.match(journal.stdout, new RegExp(`hello-${state.active}\\.service|gunicorn`));
    });
  });
}
