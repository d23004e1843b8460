/**
 * End to end, bluegreen: a deploy stages the new release in the slot that is
 * not serving, where it can be looked at on its own socket; `activate` moves
 * the traffic, and `rollback` moves it back to the other slot, still running.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  failedRequests,
  formatLoad,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
  withLoad,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const MESSAGE = /<h1 id="message">([^<]*)<\/h1>/;

/** The public page's message (through nginx), asserting 200. */

// The hosts have no curl: python3 asks a slot's own socket, past nginx.
const SOCKET_GET_PY = `import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
c = C("localhost", timeout=10)
c.request("GET", "/")
r = c.getresponse()
print(r.status)
print(r.read().decode())`;

/** The message a slot serves on its own socket (/run/hello-<slot>/hello.sock). */
async function slotMessage(host: TestHost, slot: string): Promise<string> {
  const socket = `/run/hello-${slot}/hello.sock`;
  const r = await host.ssh(`sudo -n python3 -c '${SOCKET_GET_PY}' ${socket}`);
  assert.equal(r.code, 0, `GET / on ${socket}: ${r.stderr}`);
  const [code, ...body] = r.stdout.split("\n");
  assert.equal(code, "200", `${socket} answered ${code}`);
  const m = MESSAGE.exec(body.join("\n"));
  assert.ok(m, `${socket}: no message in ${body.join("\n").slice(0, 300)}`);
  return m[1].trim();
}

interface HostStatus {
  strategy: string;
  live?: { release: string; commit: string };
  active_slot?: string;
  slots: Record<
    string,
    { release?: string; commit?: string; state?: string; unit: string; unit_state: string }
  >;
}

async function status(project: TestProject): Promise<HostStatus> {
  const r = await djaploy(project, ["status", "--env", "test", "--json"]);
  ok(r, "status --json");
  const all = JSON.parse(r.stdout) as HostStatus[];
  assert.equal(all.length, 1, r.stdout);
  return all[0];
}

const other = (slot: string) => slot === "blue" ? "green" : "blue";

async function commitMessage(project: TestProject, text: string): Promise<string> {
  await project.write("pages/message.txt", `${text}\n`);
  return await project.commit(text);
}

async function deployed(host: TestHost): Promise<TestProject> {
  const project = await makeProject({ hosts: [host], strategy: "bluegreen" });
  ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
  const first = await djaploy(project, ["deploy", "--env", "test"]);
  ok(first, "first deploy");
  assert.equal(await pageMessage(host), "Hello from djaploy!", "the very first deploy activates");
  return project;
}

/** Deploys (staging only) and checks the public page is unchanged while the staged slot is new. */
async function stage(host: TestHost, project: TestProject, text: string, live: string) {
  const commit = await commitMessage(project, text);
  const r = await djaploy(project, ["deploy", "--env", "test"]);
  ok(r, `deploy ${text}`);
  assert.match(r.output, /staged in (blue|green)/);
  assert.equal(await pageMessage(host), live, "the public page is unchanged before activation");
  const st = await status(project);
  const staged = other(st.active_slot!);
  assert.equal(st.slots[staged].state, "staged", JSON.stringify(st.slots));
  assert.equal(st.slots[staged].commit, commit);
  assert.equal(st.slots[staged].unit_state, "active", "the staged slot runs");
  assert.equal(await slotMessage(host, staged), text, "the staged slot serves the new release");
  return { st, staged };
}

e2eTest("bluegreen: deploy and activate five times, roll back twice, under load", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await deployed(host);
    const { value: times, load } = await withLoad(`http://${host.ip}/`, async () => {
      const times: string[] = [];
      let live = "Hello from djaploy!";
      for (let i = 1; i <= 5; i++) {
        const text = `Cycle ${i}`;
        const { st, staged } = await stage(host, project, text, live);
        const act = await djaploy(project, ["activate", "--env", "test"]);
        ok(act, `activate ${text}`);
        times.push(`${act.ms}`);
        assert.equal(await pageMessage(host), text, `after activate ${i}`);
        const after = await status(project);
        assert.equal(after.active_slot, staged);
        assert.equal(after.slots[staged].state, "active");
        assert.equal(
          after.slots[st.active_slot!].unit_state,
          "active",
          "the old slot keeps running",
        );
        live = text;
      }
      for (const expected of ["Cycle 4", "Cycle 5"]) {
        const back = await djaploy(project, ["rollback", "--env", "test"]);
        ok(back, "rollback");
        times.push(`rollback ${back.ms}`);
        assert.equal(await pageMessage(host), expected);
      }
      return times;
    });
    // deno-lint-ignore no-console
    console.log(
      `${formatLoad("bluegreen, 5 deploy+activate, 2 rollbacks", load)}; ` +
        `activate/rollback ${times.join(", ")} ms`,
    );
    assert.equal(failedRequests(load), 0, `requests failed under load:\n${load.output}`);
    assert.ok(load.requests >= 200, `too few requests to prove anything:\n${load.output}`);
  });
});

e2eTest(
  "bluegreen: deploys before activation never touch the serving slot; deploy --activate does both",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await deployed(host);
      const start = await status(project);
      const serving = start.active_slot!;
      const servingRelease = start.slots[serving].release;

      const a = await stage(host, project, "Staged A", "Hello from djaploy!");
      assert.equal(a.st.active_slot, serving);
      const b = await stage(host, project, "Staged B", "Hello from djaploy!");
      assert.equal(b.st.active_slot, serving, "the active slot is the same");
      assert.equal(b.staged, a.staged, "the second deploy went into the same idle slot");
      assert.equal(
        b.st.slots[serving].release,
        servingRelease,
        "the serving slot kept its release",
      );
      assert.equal(b.st.slots[serving].state, "active");
      assert.equal(await slotMessage(host, serving), "Hello from djaploy!");

      await commitMessage(project, "Activated at once");
      const both = await djaploy(project, ["deploy", "--env", "test", "--activate"]);
      ok(both, "deploy --activate");
      assert.equal(await pageMessage(host), "Activated at once");
      const after = await status(project);
      assert.equal(after.active_slot, a.staged);
      assert.equal(after.slots[a.staged].state, "active");
    });
  },
);

e2eTest(
  "bluegreen: a release failing its health check cannot be activated; rollback refuses when the other slot is down",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await deployed(host);
      // Fewer health-check probes: the failing release fails in 2 s, not 10.
      const inventory = await Deno.readTextFile(`${project.infraDir}/inventory/test.toml`);
      await project.write(
        "infra/inventory/test.toml",
        `[defaults.health_check]\nretries = 20\n\n${inventory}`,
      );
      const urls = await Deno.readTextFile(`${project.dir}/hello/urls.py`);
      await project.write(
        "hello/urls.py",
        urls.replace(
          "from django.urls import path",
          "from django.http import HttpResponseServerError\nfrom django.urls import path",
        ).replace("views.health", 'lambda request: HttpResponseServerError("broken on purpose")'),
      );
      await commitMessage(project, "Broken");
      const broken = await djaploy(project, ["deploy", "--env", "test"]);
      assert.equal(broken.code, 1, `staging must fail:\n${broken.output}`);
      assert.match(broken.output, /health check failed/);
      assert.equal(await pageMessage(host), "Hello from djaploy!", "the old release keeps serving");
      const st = await status(project);
      const idle = other(st.active_slot!);
      assert.equal(st.slots[idle].state, "failed", JSON.stringify(st.slots));
      assert.notEqual(st.slots[idle].unit_state, "active", "the failed slot was stopped");

      const act = await djaploy(project, ["activate", "--env", "test"]);
      assert.equal(act.code, 1, `activation must be refused:\n${act.output}`);
      assert.match(act.output, /nothing is staged/);
      assert.equal(await pageMessage(host), "Hello from djaploy!");
      const back = await djaploy(project, ["rollback", "--env", "test"]);
      assert.equal(back.code, 1, `rollback to a failed slot must be refused:\n${back.output}`);
      assert.match(back.output, /failed its health check/);
      assert.equal(await pageMessage(host), "Hello from djaploy!");

      // A good release, activated; then the slot rollback would go to is stopped.
      await project.write("hello/urls.py", urls);
      await stage(host, project, "Good again", "Hello from djaploy!");
      ok(await djaploy(project, ["activate", "--env", "test"]), "activate");
      assert.equal(await pageMessage(host), "Good again");
      const now = await status(project);
      const previous = other(now.active_slot!);
      assert.equal(now.slots[previous].unit_state, "active");
      const stop = await host.ssh(`sudo -n systemctl stop hello-${previous}`);
      assert.equal(stop.code, 0, stop.stderr);
      const refused = await djaploy(project, ["rollback", "--env", "test"]);
      assert.equal(refused.code, 1, `rollback must be refused:\n${refused.output}`);
      assert.match(refused.output, new RegExp(`hello-${previous}\\.service is not running`));
      assert.match(refused.output, /hint: .*deploy/);
      assert.equal(await pageMessage(host), "Good again", "the live slot keeps serving");
      assert.equal((await status(project)).active_slot, now.active_slot);
    });
  },
);
