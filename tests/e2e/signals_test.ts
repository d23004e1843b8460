/**
 * End to end, SIGINT and SIGTERM during a deploy, and a lost lock heartbeat.
 * A module of the test makes chosen steps slow on the host (a sleep between
 * two lines of a log), so a signal lands while a known step runs. After each
 * signal: the exit code is 130 or 143, the step that ran finished and none
 * after it started, the lock is free at once (no `unlock`), the ssh control
 * folder is gone with its master, the site serves the previous or the new
 * release, and the next plain deploy succeeds.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const LOG_DIR = "/var/tmp/djaploy-signals";

// Each step appends "<name>" when it starts and "<name> done" when it ends; it sleeps in
// between as long as the file slow-<name> on the host says.
const SLOW_TS = `// deno-lint-ignore-file no-explicit-any
const logged = (name: string) => ({
  name: \`logged \${name}\`,
  async run(ctx: any) {
    await ctx.exec.run({
      argv: ["sh", "-c", 'd=$1; mkdir -p "$d"; echo "$2" >> "$d/log"; ' +
        'if [ -e "$d/slow-$2" ]; then sleep "$(cat "$d/slow-$2")"; fi; echo "$2 done" >> "$d/log"',
        "sh", "${LOG_DIR}", name],
      as: "root",
    });
  },
});
export default {
  name: "slow",
  steps: { "deploy:upload": [logged("upload")], "deploy:start": [logged("start")] },
};
`;

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

async function commitMessage(project: TestProject, text: string): Promise<void> {
  await project.write("pages/message.txt", `${text}\n`);
  await project.commit(text);
}

/** Makes the step `name` sleep this long on the host (0: not at all), and clears the log. */
async function slow(host: TestHost, steps: Record<string, number>): Promise<void> {
  const lines = Object.entries(steps).map(([name, s]) =>
    s ? `echo ${s} > ${LOG_DIR}/slow-${name}` : `rm -f ${LOG_DIR}/slow-${name}`
  );
  await onHost(
    host,
    `sudo -n sh -c 'mkdir -p ${LOG_DIR}; : > ${LOG_DIR}/log; ${lines.join("; ")}'`,
  );
}

async function stepLog(host: TestHost): Promise<string[]> {
  return (await onHost(host, `sudo -n cat ${LOG_DIR}/log`)).split("\n").filter(Boolean);
}

/** The log while djaploy runs; undefined when the host could not be asked this time. */
async function stepLogNow(host: TestHost): Promise<string[] | undefined> {
  const r = await host.ssh(`sudo -n cat ${LOG_DIR}/log`);
  return r.code === 0 ? r.stdout.split("\n").filter(Boolean) : undefined;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The control folder of the djaploy run that talks to `host`, from the argv
 * of an ssh it started for that host (the one that opened the connection, or
 * a client of it).
 */
async function controlFolder(host: TestHost): Promise<string | undefined> {
  const ps = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
  const re = new RegExp(
    `^ssh .*ControlPath=(/tmp/djaploy-[^/\\s]+)/\\S+ .*\\b${host.ip.replaceAll(".", "\\.")}( |$)`,
  );
  for (const line of new TextDecoder().decode(ps.stdout).split("\n")) {
    const m = re.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The processes that name a socket in `dir`: ssh clients by their argv
 * (ControlPath=...), and a master that ssh put in the background by the title
 * it gives itself ("ssh: <socket> [mux]").
 */
async function sshProcessesUsing(dir: string): Promise<string[]> {
  const ps = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
  return new TextDecoder().decode(ps.stdout).split("\n").filter((l) => l.includes(`${dir}/`));
}

/** Starts a deploy and hands its process to `during` once it runs; returns its result. */
async function deployWith(
  project: TestProject,
  during: (child: Deno.ChildProcess) => Promise<void>,
): Promise<{ result: DjaployResult; error?: unknown }> {
  let started: Promise<void> | undefined;
  const result = await djaploy(project, ["deploy", "--env", "test"], {
    onSpawn: (child) => {
      started = during(child);
    },
  });
  const error = await started?.then(() => undefined, (e) => e);
  return { result, error };
}

/** What every interrupted run must leave: no lock, no control folder or master, a serving site. */
async function assertCleanStop(
  host: TestHost,
  r: DjaployResult,
  opts: { code: number; control: string; serving: readonly string[] },
): Promise<string> {
  assert.equal(r.code, opts.code, `exit code:\n${r.output}`);
  // Free at once: a deploy with --lock-wait 0 would be refused otherwise.
  await onHost(host, "sudo -n flock -n /run/djaploy/hello.lock true");
  await assert.rejects(Deno.stat(opts.control), Deno.errors.NotFound, "the control folder is gone");
  assert.deepEqual(await sshProcessesUsing(opts.control), [], "no ssh master is left");
  const serving = await pageMessage(host);
  assert.ok(opts.serving.includes(serving), `the site serves "${serving}":\n${r.output}`);
  // Where traffic goes is where the records say it goes.
  const [socket, slot] = (await onHost(
    host,
    "readlink /run/djaploy/hello.sock; sudo -n cat /var/lib/djaploy/apps/hello/active-slot",
  )).split("\n");
  assert.equal(socket, `/run/hello-${slot}/hello.sock`);
  return serving;
}

async function setUp(host: TestHost): Promise<TestProject> {
  const project = await makeProject({
    hosts: [host],
    strategy: "zero_downtime",
    modules: ["core", "nginx", "systemd", "./infra/modules/slow.ts"],
    files: { "infra/modules/slow.ts": SLOW_TS },
  });
  ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
  await slow(host, {});
  ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
  return project;
}

e2eTest(
  "signals: SIGINT during a step lets it finish and starts no other; SIGTERM after the switch; exit 130/143, lock free, control folder gone",
  async (t) => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await setUp(host);
      let live = "Hello from djaploy!";

      await t.step("SIGINT while a step of the upload phase runs", async () => {
        await commitMessage(project, "Stopped during the upload");
        await slow(host, { upload: 4 });
        let control = "";
        const { result, error } = await deployWith(project, async (child) => {
          await waitFor(
            "the slow step",
            async () => (await stepLogNow(host))?.length ? 1 : undefined,
          );
          control = await waitFor("the control folder", () => controlFolder(host));
          child.kill("SIGINT");
        });
        assert.equal(error, undefined, String(error));
        await assertCleanStop(host, result, { code: 130, control, serving: [live] });
        assert.deepEqual(await stepLog(host), ["upload", "upload done"], "it ended, nothing after");
        assert.match(result.output, /SIGINT: stopping once the running steps finish/);
        assert.match(result.output, /web-1 +STOPPED +\S/);
        assert.match(result.output, /Stopped before "[^"]+": djaploy received SIGINT/);
        assert.doesNotMatch(result.output, /switch traffic/);
        // The history says where it stopped.
        const history = await djaploy(project, ["history", "--env", "test"]);
        ok(history, "history");
        assert.match(history.output, /web-1 +deploy .*failed at [^\n]*\(not started\)/);
      });

      await t.step("the next plain deploy succeeds", async () => {
        await slow(host, {});
        ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after SIGINT");
        live = "Stopped during the upload";
        assert.equal(await pageMessage(host), live);
      });

      await t.step("SIGTERM while a step after the switch runs", async () => {
        await commitMessage(project, "Stopped after the switch");
        await slow(host, { start: 4 });
        let control = "";
        const { result, error } = await deployWith(project, async (child) => {
          await waitFor(
            "the step after the switch",
            async () => (await stepLogNow(host))?.includes("start") ? 1 : undefined,
          );
          control = await waitFor("the control folder", () => controlFolder(host));
          child.kill("SIGTERM");
        });
        assert.equal(error, undefined, String(error));
        live = await assertCleanStop(host, result, {
          code: 143,
          control,
          serving: ["Stopped after the switch"],
        });
        assert.deepEqual(await stepLog(host), ["upload", "upload done", "start", "start done"]);
        await slow(host, {});
        ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after SIGTERM");
        assert.equal(await pageMessage(host), live);
      });

      await t.step(
        "a second SIGINT ends the running step at once; the lock is still freed",
        async () => {
          await commitMessage(project, "Forced stop");
          await slow(host, { upload: 20 });
          let control = "";
          let signalledAt = 0;
          const { result, error } = await deployWith(project, async (child) => {
            await waitFor(
              "the slow step",
              async () => (await stepLogNow(host))?.length ? 1 : undefined,
            );
            control = await waitFor("the control folder", () => controlFolder(host));
            child.kill("SIGINT");
            await new Promise((r) => setTimeout(r, 300));
            signalledAt = Date.now();
            child.kill("SIGINT");
          });
          const took = Date.now() - signalledAt;
          assert.equal(error, undefined, String(error));
          assert.ok(took < 10_000, `djaploy took ${took} ms after the second SIGINT`);
          await assertCleanStop(host, result, { code: 130, control, serving: [live] });
          assert.match(result.output, /ending the running ssh and rsync commands/);
          assert.ok(!(await stepLog(host)).includes("start"), "no later step started");
          await slow(host, {});
          ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy after two SIGINTs");
          live = "Forced stop";
          assert.equal(await pageMessage(host), live);
        },
      );
    });
  },
);

e2eTest(
  "signals: SIGINT or SIGTERM at any point of a deploy leaves a serving site, a free lock and no control folder",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await setUp(host);
      await commitMessage(project, "Timed");
      const timed = await djaploy(project, ["deploy", "--env", "test"]);
      ok(timed, "timed deploy");
      let live = "Timed";
      const report: string[] = [];
      // Spread over the deploy; the last ones land around the new slot's start and the switch.
      const points = [
        [0.2, "SIGINT"],
        [0.4, "SIGTERM"],
        [0.6, "SIGINT"],
        [0.7, "SIGTERM"],
        [0.8, "SIGINT"],
      ] as const;
      for (const [fraction, signal] of points) {
        const afterMs = Math.round(timed.ms * fraction);
        const text = `${signal} after ${afterMs} ms`;
        await commitMessage(project, text);
        let control: string | undefined;
        let sent = false;
        const { result, error } = await deployWith(project, async (child) => {
          const until = Date.now() + afterMs;
          while (Date.now() < until) {
            control ??= await controlFolder(host);
            await new Promise((r) => setTimeout(r, 50));
          }
          control ??= await controlFolder(host);
          try {
            child.kill(signal);
            sent = true;
          } catch {
            // It had already finished.
          }
        });
        assert.equal(error, undefined, String(error));
        report.push(`${afterMs} ms ${signal}: exit ${result.code}`);
        if (!sent) {
          ok(result, "a deploy that ended before the signal");
          live = text;
          continue;
        }
        assert.ok(control, `the run had a control folder at ${afterMs} ms`);
        live = await assertCleanStop(host, result, {
          code: signal === "SIGINT" ? 130 : 143,
          control,
          serving: [live, text],
        });
        ok(await djaploy(project, ["deploy", "--env", "test"]), `the deploy after ${text}`);
        live = text;
        assert.equal(await pageMessage(host), live);
      }
      // deno-lint-ignore no-console
      console.log(`signals: a deploy took ${timed.ms} ms; ${report.join("; ")}`);
    });
  },
);

e2eTest(
  "lock heartbeat: a deploy suspended past the lock's timeout stops before its next change once resumed",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await setUp(host);
      await commitMessage(project, "Never live");
      await slow(host, { upload: 2 });
      const { result, error } = await deployWith(project, async (child) => {
        await waitFor(
          "the slow step",
          async () => (await stepLogNow(host))?.length ? 1 : undefined,
        );
        // Ctrl-Z (or a laptop's lid) while a step runs, for longer than the host waits.
        child.kill("SIGSTOP");
        try {
          await waitFor("the host to give the lock up", async () => {
            const r = await host.ssh("sudo -n flock -n /run/djaploy/hello.lock true");
            return r.code === 0 ? 1 : undefined;
          });
          assert.deepEqual(await stepLog(host), ["upload", "upload done"]);
        } finally {
          child.kill("SIGCONT");
        }
      });
      assert.equal(error, undefined, String(error));
      assert.equal(result.code, 1, result.output);
      assert.match(
        result.output,
        /Stopped: the deploy lock of hello on web-1 was lost: (no heartbeat reached the host for \d+ s|the shell holding it on the host ended)/,
      );
      assert.doesNotMatch(result.output, /changed +(start new release|switch traffic)/);
      assert.deepEqual(await stepLog(host), ["upload", "upload done"], "no step ran after it");
      assert.equal(await pageMessage(host), "Hello from djaploy!");
      await slow(host, {});
      ok(await djaploy(project, ["deploy", "--env", "test"]), "the next deploy");
      assert.equal(await pageMessage(host), "Never live");
    });
  },
);

e2eTest(
  "unlock: breaks the lock of a running deploy without secrets or modules; that deploy stops before its next change",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await setUp(host);
      await commitMessage(project, "Never live either");
      await slow(host, { upload: 5 });
      const config = `${project.infraDir}/djaploy.toml`;
      const good = await Deno.readTextFile(config);
      let unlock: DjaployResult | undefined;
      const { result, error } = await deployWith(project, async () => {
        await waitFor(
          "the slow step",
          async () => (await stepLogNow(host))?.length ? 1 : undefined,
        );
        // A secret only 1Password could give (no `op` here) and a module that cannot load.
        await Deno.writeTextFile(
          config,
          good.replace('"env:HELLO_SECRET_KEY"', '"op://Private/hello/secret-key"')
            .replace("./infra/modules/slow.ts", "./infra/modules/broken.ts"),
        );
        await project.write("infra/modules/broken.ts", "export default {{ syntax error\n");
        unlock = await djaploy(project, ["unlock", "--env", "test", "--yes"], {
          env: { PATH: "/usr/bin:/bin" },
        });
      });
      assert.equal(error, undefined, String(error));
      assert.ok(unlock);
      ok(unlock, "unlock");
      assert.match(
        unlock.output,
        /web-1: the deploy lock is held by \S+@\S+ \(djaploy deploy --env test --latest, since [^)]+\)\nweb-1: lock broken/,
      );
      assert.equal(result.code, 1, result.output);
      assert.match(
        result.output,
        /Stopped: the deploy lock of hello on web-1 was lost: the shell holding it on the host ended/,
      );
      assert.deepEqual(await stepLog(host), ["upload", "upload done"], "no step ran after it");
      assert.equal(await pageMessage(host), "Hello from djaploy!");
      await Deno.writeTextFile(config, good);
      await slow(host, {});
      ok(await djaploy(project, ["deploy", "--env", "test"]), "the next deploy");
      assert.equal(await pageMessage(host), "Never live either");
    });
  },
);
