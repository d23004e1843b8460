/**
 * End to end: a failed scheduled job is announced. With [notifications],
 * `systemctl start` of a job that exits 3 makes systemd start the app's
 * notifier (OnFailure=), which POSTs to a local Slack stand-in (the real
 * incoming-webhook format, over real HTTP from the test host) a message
 * naming the app, the host and the job. The URL stays in a root-only file,
 * in no unit and no command line; the notifier runs as a dynamic user;
 * a job that succeeds announces nothing; `status` shows the failure.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, makeProject, type TestHost, withHosts } from "./harness.ts";
import { ok } from "./harness/expect.ts";
import { slackStub } from "../helpers/http_stub.ts";

const TOKEN = "xoxe2e-job-token-5f2a";

const CONFIG = `
[[schedule]]
name = "nightly"
shell = "echo the report broke >&2; exit 3"
on_calendar = "*-01-01 04:00"

[[schedule]]
name = "fine"
shell = "true"
on_calendar = "*-01-01 05:00"

[notifications]
display_name = "Hello e2e"
notify = false
webhook_url = "env:E2E_WEBHOOK_URL"
`;

async function rootSh(host: TestHost, command: string): Promise<{ code: number; stdout: string }> {
  const r = await host.ssh(`sudo -n sh -c '${command.replaceAll("'", "'\\''")}'`);
  return { code: r.code, stdout: r.stdout.trim() };
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

e2eTest(
  "a failed scheduled job is announced to Slack naming the app, host and job, and shows in status",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      await using slack = slackStub({ hostname: "0.0.0.0" });
      const port = new URL(slack.url).port;
      const env = {
        E2E_WEBHOOK_URL: `http://10.231.${host.index}.1:${port}/services/T0/B0/${TOKEN}`,
      };
      const project = await makeProject({ hosts: [host], config: CONFIG });
      ok(await djaploy(project, ["configure", "--env", "test"], { env }), "configure");
      const deploy = await djaploy(project, ["deploy", "--env", "test", "-v"], { env });
      ok(deploy, "deploy");
      assert.ok(!deploy.output.includes(TOKEN), "the URL is masked in the output");

      // The URL: root's alone, in no unit file; the app user cannot read it.
      const file = "/etc/djaploy/apps/hello/notify-webhook";
      assert.equal((await rootSh(host, `stat -c "%U:%G %a" ${file}`)).stdout, "root:root 600");
      assert.notEqual((await rootSh(host, `grep -rl ${TOKEN} /etc/systemd/system`)).code, 0);
      assert.notEqual((await rootSh(host, `sudo -n -u app cat ${file}`)).code, 0);
      assert.match(
        (await rootSh(host, "cat /etc/systemd/system/hello-schedule-nightly.service")).stdout,
        /^OnFailure=hello-notify-failure@%n\.service$/m,
      );

      // A job that succeeds announces nothing.
      assert.equal((await rootSh(host, "systemctl start hello-schedule-fine.service")).code, 0);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(slack.requests.length, 0, JSON.stringify(slack.requests));

      // The failing job: systemd starts the notifier, which posts once.
      assert.notEqual(
        (await rootSh(host, "systemctl start hello-schedule-nightly.service")).code,
        0,
      );
      await until("the Slack message", () => slack.requests.length > 0);
      const req = slack.requests[0];
      assert.equal(req.path, `/services/T0/B0/${TOKEN}`);
      const msg = req.json as { text: string; blocks: { fields?: { text: string }[] }[] };
      assert.equal(
        msg.text,
        "Hello e2e: scheduled job nightly failed on web-1 (exit-code (exited 3))",
      );
      assert.deepEqual(msg.blocks[1].fields!.map((f) => f.text), [
        "*Environment*\ntest",
        "*Host*\nweb-1",
        "*Job*\nnightly",
        "*Result*\nexit-code (exited 3)",
      ]);

      // The notifier ran as a dynamic user of its own and finished with success.
      const notifier = "hello-notify-failure@hello-schedule-nightly.service";
      let shown = "";
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        shown = (await rootSh(
          host,
          `systemctl show -p DynamicUser -p Result -p ActiveState -p ExecMainStatus ${notifier}`,
        )).stdout;
        if (/^ActiveState=inactive$/m.test(shown)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(shown, /^DynamicUser=yes$/m, shown);
      assert.match(shown, /^Result=success$/m, shown);
      assert.match(shown, /^ExecMainStatus=0$/m, shown);
      const score = (await rootSh(host, `systemd-analyze security ${notifier} --no-pager`)).stdout;
      const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(score)?.[1]);
      // deno-lint-ignore no-console
      console.log(`notifier: systemd-analyze security exposure ${exposure}`);
      assert.ok(exposure <= 3.0, score.split("\n").slice(-3).join("\n"));

      // status shows the failed run.
      const st = await djaploy(project, ["status", "--env", "test", "--json"], { env });
      ok(st, "status --json");
      const job =
        (JSON.parse(st.stdout) as { schedule: Record<string, Record<string, string>> }[])[0]
          .schedule;
      assert.equal(job.nightly.last, "failed", JSON.stringify(job));
      assert.equal(job.nightly.exit_status, "3", JSON.stringify(job));
      assert.equal(job.fine.last, "succeeded", JSON.stringify(job));
      const text = await djaploy(project, ["status", "--env", "test"], { env });
      assert.match(
        text.output,
        /schedule nightly \(\*-01-01 04:00\): last run FAILED \(exit-code, exit status 3\)/,
      );
      assert.equal(slack.requests.length, 1, "one failure, one message");
    });
  },
);
