/**
 * End to end, the release pipeline (docs/releases.md) on real servers: the
 * next version from git tags, the annotated tag pushed to a local bare
 * remote once every host succeeded, the VERSION file on the host, the
 * announcement (Slack incoming-webhook format, or a JSON webhook) with the
 * llm changelog, and the history record. Slack and the OpenAI-compatible
 * endpoint are local HTTP servers on 127.0.0.1 that check the request format
 * and record what they got; 1Password is a stand-in `op` on PATH.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  makeProject,
  TEST_SECRET,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { chatCompletionsStub, slackStub, startStub } from "../helpers/http_stub.ts";
import { makeOpStub } from "../helpers/op_stub.ts";

const APP = "/home/app/apps/hello";
const LLM_KEY = "sk-e2e-llm-key-5c2f9a";
const WEBHOOK_TOKEN = "e2e-hook-token-7d41b3";
const LLM_TEXT = "- Invoices are sent by email\n- A new pricing page";

function ok(r: DjaployResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
  for (const secret of [TEST_SECRET, LLM_KEY, WEBHOOK_TOKEN]) {
    assert.ok(!r.output.includes(secret), `${what} printed a secret`);
  }
}

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

async function git(project: TestProject, ...args: string[]): Promise<string> {
  const r = await project.git(...args);
  assert.equal(r.code, 0, `git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A bare repository next to the project, as its `origin` (the branch's upstream). */
async function addOrigin(project: TestProject): Promise<string> {
  const remote = join(project.root, "remote.git");
  await git(project, "init", "-q", "--bare", remote);
  await git(project, "remote", "add", "origin", remote);
  await git(project, "push", "-q", "-u", "origin", "main", "--tags");
  return remote;
}

function releaseConfig(opts: { llmUrl: string; kind?: string }): string {
  return `
[versioning]
tag_environments = ["test"]
increment_type = "patch"
push_tags = true

[notifications]
display_name = "Hello E2E"
webhook_url = "env:E2E_WEBHOOK_URL"
kind = "${opts.kind ?? "slack"}"
changelog_generator = "llm"

[notifications.changelog_config]
api_url = "${opts.llmUrl}/v1/chat/completions"
model = "devstral-small-latest"
api_key = "op://e2e/llm/api-key"
timeout = 10
`;
}

interface SlackMessage {
  text: string;
  blocks: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
}

e2eTest(
  "a versioned, announced deploy tags and pushes, writes VERSION, posts the llm changelog to Slack and records history; another environment reuses the tag",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      await using slack = slackStub();
      await using llm = chatCompletionsStub({
        apiKey: LLM_KEY,
        model: "devstral-small-latest",
        content: LLM_TEXT,
      });
      await using op = await makeOpStub({ "op://e2e/llm/api-key": LLM_KEY });
      const project = await makeProject({
        hosts: [host],
        config: releaseConfig({ llmUrl: llm.url }),
      });
      const inventory = await Deno.readTextFile(join(project.infraDir, "inventory/test.toml"));
      await project.write("infra/inventory/staging.toml", inventory);
      await project.commit("Add a staging environment");
      await git(project, "tag", "-a", "v1.4.0", "-m", "v1.4.0\n\n- The first release");
      const remote = await addOrigin(project);
      // Since v1.4.0: a feature branch (with a fixup) merged, and a commit on main.
      await git(project, "checkout", "-q", "-b", "invoices");
      await project.write("pages/invoices.txt", "invoices\n");
      await project.commit("Send invoices by email");
      await project.write("pages/invoices.txt", "invoices!\n");
      await project.commit("fixup! Send invoices by email");
      await git(project, "checkout", "-q", "main");
      await project.write("pages/pricing.txt", "pricing\n");
      await project.commit("Add the pricing page");
      await git(project, "merge", "-q", "--no-ff", "-m", "Merge branch 'invoices'", "invoices");
      const head = await git(project, "rev-parse", "HEAD");
      const short = head.slice(0, 7);
      const env = {
        E2E_WEBHOOK_URL: `${slack.url}/services/T0/B0/${WEBHOOK_TOKEN}`,
        PATH: op.path,
      };

      const twoBumps = await djaploy(project, [
        "deploy",
        "--env",
        "test",
        "--bump-minor",
        "--bump-patch",
      ], { env });
      assert.equal(twoBumps.code, 2, twoBumps.output);
      assert.match(twoBumps.output, /Choose one of --bump-major, --bump-minor and --bump-patch/);

      ok(await djaploy(project, ["configure", "--env", "test"], { env }), "configure");
      const deploy = await djaploy(project, ["deploy", "--env", "test", "-v"], { env });
      ok(deploy, "deploy");
      assert.match(
        deploy.output,
        /version v1\.4\.1 \(next patch after v1\.4\.0; tagged once every host succeeded\)/,
      );
      assert.match(deploy.output, /tagged v1\.4\.1/);
      assert.match(deploy.output, /pushed v1\.4\.1 to origin/);
      assert.match(deploy.output, /notified slack: deploy succeeded/);

      // The llm endpoint got the commits since v1.4.0, without the merge and the fixup.
      assert.equal(llm.requests.length, 1);
      assert.equal(llm.requests[0].headers.authorization, `Bearer ${LLM_KEY}`);
      const prompt = (llm.requests[0].json as { messages: { content: string }[] }).messages[1]
        .content;
      assert.match(prompt, /^Release v1\.4\.1 of Hello E2E\./);
      assert.match(prompt, /- Send invoices by email/);
      assert.match(prompt, /- Add the pricing page/);
      assert.doesNotMatch(prompt, /Merge branch|fixup!|staging|first release/);

      // The annotated tag, pushed, with the changelog as its message.
      assert.equal(await git(project, "rev-parse", "v1.4.1^{commit}"), head);
      const pushed = await project.git(
        "--git-dir",
        remote,
        "for-each-ref",
        "--format=%(objecttype)|%(*objectname)|%(contents)",
        "refs/tags/v1.4.1",
      );
      assert.equal(pushed.stdout.trim(), `tag|${head}|v1.4.1\n\n${LLM_TEXT}`);

      // The VERSION file in the code that runs.
      const version = await onHost(host, `sudo -n cat ${APP}/code/VERSION`);
      assert.match(
        version,
        new RegExp(
          `^VERSION=v1\\.4\\.1\nCOMMIT=${head}\nDEPLOYED_AT=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\nENVIRONMENT=test$`,
        ),
      );

      const status = await djaploy(project, ["status", "--env", "test", "--json"], { env });
      ok(status, "status");
      assert.equal(JSON.parse(status.stdout)[0].live.version, "v1.4.1", "status shows the version");

      // The Slack message: incoming-webhook format, the changelog, the commit range.
      assert.equal(slack.requests.length, 1);
      assert.equal(slack.requests[0].path, `/services/T0/B0/${WEBHOOK_TOKEN}`);
      const msg = slack.requests[0].json as SlackMessage;
      assert.match(msg.text, /^Hello E2E v1\.4\.1 deployed to test by \S+@\S+ \(1 host, \d+ s\)$/);
      assert.equal(msg.blocks[0].type, "header");
      const fields = msg.blocks[1].fields!.map((f) => f.text);
      assert.ok(fields.includes(`*Commits*\nv1.4.0..${short}`), fields.join(" | "));
      assert.ok(fields.includes("*Hosts*\nweb-1"));
      assert.ok(fields.includes("*Strategy*\nin_place"));
      assert.equal(msg.blocks[2].text!.text, `*Changes*\n${LLM_TEXT}`);

      // The history record.
      const history = await djaploy(project, ["history", "--env", "test", "--json"], { env });
      ok(history, "history");
      const records = JSON.parse(history.stdout);
      assert.equal(records.length, 1);
      assert.deepEqual(
        { ...records[0], time: "T", duration_s: 0, who: "W" },
        {
          time: "T",
          host: "web-1",
          who: "W",
          command: "deploy",
          env: "test",
          version: "v1.4.1",
          commit: head,
          ref: "main",
          release: records[0].release,
          strategy: "in_place",
          result: "ok",
          duration_s: 0,
        },
      );
      assert.ok(records[0].duration_s > 0);
      const table = await djaploy(project, ["history", "--env", "test"], { env });
      assert.match(table.stdout, /web-1 +deploy +v1\.4\.1 +[0-9a-f]{7} +ok /);

      // The same commit to staging: the tag's version and its changelog, no new tag, no llm call.
      const staging = await djaploy(project, ["deploy", "--env", "staging"], { env });
      ok(staging, "deploy to staging");
      assert.match(staging.output, /version v1\.4\.1 \(the commit's tag v1\.4\.1\)/);
      assert.doesNotMatch(staging.output, /tagged/);
      assert.equal(llm.requests.length, 1, "the tag's changelog is reused");
      assert.equal(slack.requests.length, 2);
      const again = slack.requests[1].json as SlackMessage;
      assert.match(again.text, /^Hello E2E v1\.4\.1 deployed to staging/);
      assert.equal(again.blocks[2].text!.text, `*Changes*\n${LLM_TEXT}`, "the same text");
      assert.equal((await git(project, "tag", "--list")).split("\n").length, 2, "v1.4.0, v1.4.1");
      assert.match(await onHost(host, `sudo -n cat ${APP}/code/VERSION`), /ENVIRONMENT=staging$/);
      const both = JSON.parse(
        (await djaploy(project, ["history", "--env", "staging", "--json"], { env })).stdout,
      );
      assert.deepEqual(both.map((r: { env: string }) => r.env), ["staging", "test"]);
    });
  },
);

e2eTest("a failing deploy posts the failure (JSON webhook) and creates no tag", async () => {
  await withHosts(["web-1"], async ([host]) => {
    await using hook = startStub(() => new Response(null, { status: 204 }));
    await using llm = chatCompletionsStub({ apiKey: LLM_KEY, content: LLM_TEXT });
    await using op = await makeOpStub({ "op://e2e/llm/api-key": LLM_KEY });
    const project = await makeProject({
      hosts: [host],
      config: releaseConfig({ llmUrl: llm.url, kind: "webhook" }),
    });
    const remote = await addOrigin(project);
    const env = { E2E_WEBHOOK_URL: `${hook.url}/hook/${WEBHOOK_TOKEN}`, PATH: op.path };
    ok(await djaploy(project, ["configure", "--env", "test"], { env }), "configure");
    await project.write("hello/wsgi.py", 'raise RuntimeError("broken on purpose")\n');
    await project.commit("Break the app");

    const r = await djaploy(project, ["deploy", "--env", "test"], { env });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /version v0\.1\.0 \(first version: no version tag yet; tagged once/);
    assert.match(r.output, /not tagging v0\.1\.0: not every host succeeded/);
    assert.match(r.output, /notified webhook: deploy failed/);
    assert.equal(await git(project, "tag", "--list"), "", "no tag here");
    assert.equal(
      (await project.git("--git-dir", remote, "tag", "--list")).stdout.trim(),
      "",
      "no tag on the remote",
    );

    assert.equal(hook.requests.length, 1);
    assert.equal(hook.requests[0].path, `/hook/${WEBHOOK_TOKEN}`);
    const body = hook.requests[0].json as Record<string, unknown> & {
      failures: { host: string; step: string; error: string }[];
    };
    assert.equal(body.event, "deploy.failed");
    assert.equal(body.app, "Hello E2E");
    assert.equal(body.environment, "test");
    assert.equal(body.version, "v0.1.0");
    assert.deepEqual(body.hosts, ["web-1"]);
    assert.deepEqual(body.succeeded_hosts, []);
    assert.equal(body.failures.length, 1);
    assert.equal(body.failures[0].host, "web-1");
    assert.equal(body.failures[0].step, "restart services");
    assert.match(body.failures[0].error, /^exit code 1 \(general error\)/);
    const text = hook.requests[0].body;
    assert.ok(!text.includes("sudo -n"), "no command line in the announcement");
    for (const secret of [TEST_SECRET, LLM_KEY, WEBHOOK_TOKEN]) {
      assert.ok(!text.includes(secret), "no secret in the announcement");
    }

    const history = JSON.parse(
      (await djaploy(project, ["history", "--env", "test", "--json"], { env })).stdout,
    );
    assert.equal(history.length, 1);
    assert.equal(history[0].result, "failed");
    assert.equal(history[0].step, "restart services");
    assert.equal(history[0].version, "v0.1.0");
  });
});
