/**
 * End to end, bluegreen: a `[processes]` worker runs the live slot's code
 * and follows activate and rollback; `[[schedule]]` jobs run in the live
 * slot as the app user with the app's environment, their last result shows
 * in `status` (a failure too), and what leaves the config leaves the server.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const SLOTS = "/home/app/apps/hello/slots";
const DATA = "/home/app/data";

// Every half second: the folder it runs in, the release's message, and its Python.
const WORKER_PY = `import os, pathlib, sys, time
data = pathlib.Path("${DATA}")
while True:
    message = pathlib.Path("pages/message.txt").read_text().strip()
    (data / "worker.tmp").write_text(f"{os.getcwd()}|{message}|{sys.prefix}\\n")
    (data / "worker.tmp").replace(data / "worker.txt")
    time.sleep(0.5)
`;

// A shell job: the folder, the message, a variable of [env], and who runs it.
const STAMP_SH =
  `echo "$(pwd)|$(cat pages/message.txt)|$DJANGO_SETTINGS_MODULE|$(id -un)" > ${DATA}/stamp.txt`;

const CONFIG = `
[processes]
worker = "python3 worker.py"

[[schedule]]
name = "stamp"
shell = ${JSON.stringify(STAMP_SH)}
on_calendar = "*-*-* 03:00"

[[schedule]]
command = "check"
on_calendar = "daily"

[[schedule]]
name = "broken"
shell = "exit 3"
on_calendar = "weekly"
`;

interface Status {
  active_slot?: string;
  processes: Record<string, { unit: string; state: string }>;
  schedule: Record<string, { last: string; result?: string; exit_status?: string }>;
}

async function status(project: TestProject): Promise<Status> {
  const r = await djaploy(project, ["status", "--env", "test", "--json"]);
  ok(r, "status --json");
  return (JSON.parse(r.stdout) as Status[])[0];
}

async function rootSh(host: TestHost, command: string): Promise<{ code: number; stdout: string }> {
  const r = await host.ssh(`sudo -n sh -c '${command.replaceAll("'", "'\\''")}'`);
  return { code: r.code, stdout: r.stdout.trim() };
}

/** Waits (up to 10 s) until the worker reports running in `slot` with `message`. */
async function workerRuns(host: TestHost, slot: string, message: string): Promise<string> {
  let last = "";
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    last = (await rootSh(host, `cat ${DATA}/worker.txt 2>/dev/null`)).stdout;
    if (last.startsWith(`${SLOTS}/${slot}|${message}|`)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.fail(`the worker should run ${slot} with "${message}": it reports "${last}"`);
}

e2eTest(
  "processes: a worker follows bluegreen activate and rollback; scheduled jobs run in the live slot and show in status",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({
        hosts: [host],
        strategy: "bluegreen",
        config: CONFIG,
        files: { "worker.py": WORKER_PY },
      });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      const first = await workerRuns(host, "blue", "Hello from djaploy!");
      assert.match(first, /\|\/home\/app\/apps\/hello\/shared\/venv-[^|]+$/, "the venv's python3");

      await project.write("pages/message.txt", "Release two\n");
      await project.commit("Release two");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy (staged)");
      // Staged only: the worker stays on the live slot.
      await new Promise((r) => setTimeout(r, 1000));
      await workerRuns(host, "blue", "Hello from djaploy!");

      ok(await djaploy(project, ["activate", "--env", "test"]), "activate");
      assert.equal(await pageMessage(host), "Release two");
      await workerRuns(host, "green", "Release two");

      ok(await djaploy(project, ["rollback", "--env", "test"]), "rollback");
      assert.equal(await pageMessage(host), "Hello from djaploy!");
      await workerRuns(host, "blue", "Hello from djaploy!");

      // The timers are in place; the jobs run now, as a timer would start them.
      const timers = await rootSh(
        host,
        "systemctl is-enabled hello-schedule-stamp.timer hello-schedule-check.timer",
      );
      assert.equal(timers.stdout, "enabled\nenabled", timers.stdout);
      assert.equal((await rootSh(host, "systemctl start hello-schedule-stamp.service")).code, 0);
      assert.equal(
        (await rootSh(host, `cat ${DATA}/stamp.txt`)).stdout,
        `${SLOTS}/blue|Hello from djaploy!|hello.settings|app`,
      );
      assert.equal((await rootSh(host, "systemctl start hello-schedule-check.service")).code, 0);
      assert.notEqual(
        (await rootSh(host, "systemctl start hello-schedule-broken.service")).code,
        0,
      );

      const st = await status(project);
      assert.equal(st.active_slot, "blue");
      assert.deepEqual(st.processes, { worker: { unit: "hello-worker.service", state: "active" } });
      assert.equal(st.schedule.stamp.last, "succeeded", JSON.stringify(st.schedule));
      assert.equal(st.schedule.check.last, "succeeded", JSON.stringify(st.schedule));
      assert.equal(st.schedule.broken.last, "failed", JSON.stringify(st.schedule));
      assert.equal(st.schedule.broken.exit_status, "3", JSON.stringify(st.schedule));
      const text = await djaploy(project, ["status", "--env", "test"]);
      assert.match(
        text.output,
        /schedule broken \(weekly\): last run FAILED \(exit-code, exit status 3\)/,
      );

      // Confined like the web unit: verify rates them against its target.
      const verify = await djaploy(project, ["verify", "--env", "test"]);
      ok(verify, "verify");
      for (const unit of ["hello-worker.service", "hello-schedule-stamp.service"]) {
        const m = new RegExp(
          `^web-1 +sudo and tools: ${unit} exposure ([0-9.]+) \\w+ \\(target <= 3\\.0\\)$`,
          "m",
        )
          .exec(verify.output);
        assert.ok(m, `verify rates ${unit}:\n${verify.output}`);
        // deno-lint-ignore no-console
        console.log(`${unit}: exposure ${m[1]}`);
      }

      // Out of the config, off the server: the worker stops, its unit and the job's are gone.
      const before = await Deno.readTextFile(`${project.infraDir}/djaploy.toml`);
      const after = before
        .replace('[processes]\nworker = "python3 worker.py"\n', "")
        .replace('[[schedule]]\nname = "broken"\nshell = "exit 3"\non_calendar = "weekly"\n', "");
      assert.equal(before.length - after.length, 110, after);
      await project.write("infra/djaploy.toml", after);
      await project.commit("No worker, no broken job");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy without the worker");
      const gone = await rootSh(
        host,
        "ls /etc/systemd/system/hello-worker.service /etc/systemd/system/hello-schedule-broken.timer 2>&1; systemctl is-active hello-worker.service",
      );
      assert.match(
        gone.stdout,
        /No such file[^\n]*\n[^\n]*No such file[^\n]*\ninactive$/,
        gone.stdout,
      );
      assert.equal(
        (await rootSh(host, "systemctl is-enabled hello-schedule-stamp.timer")).stdout,
        "enabled",
      );
    });
  },
);
