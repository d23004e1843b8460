/**
 * End to end: every command, with verbose output, on a bluegreen host whose
 * config holds secrets of every kind (env:, file:, op:// in [env]; the
 * webhook URL; the llm key from 1Password), on success and failure paths.
 * None of the secret values may appear in any output, announcement, llm
 * request body, tag message, history record or VERSION file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS } from "../../cli.ts";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  makeProject,
  TEST_SECRET,
  withHosts,
} from "./harness.ts";
import { chatCompletionsStub, slackStub } from "../helpers/http_stub.ts";
import { makeOpStub } from "../helpers/op_stub.ts";

const FILE_SECRET = "e2e-file-secret-3b8e1d";
const OP_SECRET = "e2e-op-secret-a9c0f7";
const LLM_KEY = "sk-e2e-llm-key-5c2f9a";
const WRONG_LLM_KEY = "sk-e2e-wrong-key-0e77";
const WEBHOOK_TOKEN = "e2e-hook-token-7d41b3";
const SECRETS = [TEST_SECRET, FILE_SECRET, OP_SECRET, LLM_KEY, WRONG_LLM_KEY, WEBHOOK_TOKEN];

function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

e2eTest(
  "no command prints a secret: every command, verbose, success and failure paths",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      await using slack = slackStub();
      await using llm = chatCompletionsStub({ apiKey: LLM_KEY, content: "- Changes, summarised" });
      const vault = { "op://e2e/llm/api-key": LLM_KEY, "op://e2e/app/token": OP_SECRET };
      await using op = await makeOpStub(vault);
      await using wrongKey = await makeOpStub({ ...vault, "op://e2e/llm/api-key": WRONG_LLM_KEY });
      await using signedOut = await makeOpStub(vault, { signedOut: true });
      const project = await makeProject({
        hosts: [host],
        strategy: "bluegreen",
        config: `
[versioning]
tag_environments = ["test"]

[notifications]
webhook_url = "env:E2E_WEBHOOK_URL"
changelog_generator = "llm"

[notifications.changelog_config]
api_url = "${llm.url}/v1/chat/completions"
model = "devstral-small-latest"
api_key = "op://e2e/llm/api-key"
`,
      });
      const secretFile = join(project.root, "file-secret.txt");
      await Deno.writeTextFile(secretFile, `${FILE_SECRET}\n`);
      const inventory = join(project.infraDir, "inventory/test.toml");
      await Deno.writeTextFile(
        inventory,
        `${await Deno.readTextFile(
          inventory,
        )}\n[defaults.env]\nFILE_TOKEN = "file:${secretFile}"\n` +
          `OP_TOKEN = "op://e2e/app/token"\n`,
      );
      await project.commit("Secrets of every kind");

      const webhook = `${slack.url}/services/T0/B0/${WEBHOOK_TOKEN}`;
      const env = { E2E_WEBHOOK_URL: webhook, PATH: op.path };
      const runs: { args: string[]; result: DjaployResult }[] = [];
      const run = async (
        args: string[],
        opts: { env?: Record<string, string>; code?: number } = {},
      ) => {
        // -v before a `--` (after it, the words belong to the remote command).
        const at = args.includes("--") ? args.indexOf("--") : args.length;
        const argv = [...args.slice(0, at), "-v", ...args.slice(at)];
        const result = await djaploy(project, argv, { env: { ...env, ...opts.env } });
        runs.push({ args, result });
        if (opts.code !== undefined) {
          assert.equal(result.code, opts.code, `djaploy ${args.join(" ")}:\n${result.output}`);
        }
        assert.deepEqual(leaks(result.output), [], `djaploy ${args.join(" ")} printed a secret`);
        return result;
      };
      const e = ["--env", "test"];

      await run(["verify", ...e], { code: 0 });
      await run(["configure", ...e], { code: 0 });
      await run(["deploy", ...e, "--dry-run"], { code: 0 });
      await run(["deploy", ...e], { code: 0 });
      await project.write("pages/message.txt", "Second release\n");
      await project.commit("Second release");
      await run(["deploy", ...e], { code: 0 });
      await run(["activate", ...e], { code: 0 });
      await run(["rollback", ...e], { code: 0 });
      await run(["status", ...e], { code: 0 });
      await run(["status", ...e, "--json"], { code: 0 });
      await run(["releases", ...e], { code: 0 });
      await run(["history", ...e], { code: 0 });
      await run(["history", ...e, "--json"], { code: 0 });
      await run(["unlock", ...e, "--yes"]);
      // Commands of other features, when present: only what they print is checked here.
      const names = COMMANDS.map((c) => c.def.name);
      const more: string[][] = [
        ["manage", ...e, "--", "check"],
        ["exec", ...e, "--", "env"],
        ["logs", ...e, "--lines", "50"],
        ["maintenance", ...e, "status"],
      ];
      for (const args of more.filter((a) => names.includes(a[0]))) await run(args);

      // Failure paths: the llm refuses the key and the webhook is down (warnings), a broken
      // release, a usage error, 1Password signed out.
      await project.write("pages/message.txt", "Third release\n");
      await project.commit("Third release");
      const warned = await run(["deploy", ...e], {
        code: 0,
        env: {
          PATH: wrongKey.path,
          E2E_WEBHOOK_URL: `http://127.0.0.1:1/services/T0/B0/${WEBHOOK_TOKEN}`,
        },
      });
      assert.match(warned.output, /warning: the llm changelog failed \(HTTP 401/);
      assert.match(warned.output, /warning: could not notify slack: cannot reach the webhook/);
      await project.write("hello/wsgi.py", 'raise RuntimeError("broken on purpose")\n');
      await project.commit("Break the app");
      await run(["deploy", ...e], { code: 1 });
      await run(["deploy", ...e, "--hosts", "nope"], { code: 2 });
      const noOp = await run(["deploy", ...e], { code: 2, env: { PATH: signedOut.path } });
      assert.match(noOp.output, /You are not currently signed in/);

      // What went elsewhere: announcements, llm request bodies, tags, history, VERSION files.
      assert.ok(slack.requests.length >= 3, "announcements were sent");
      for (const r of slack.requests) assert.deepEqual(leaks(r.body), [], "a Slack message");
      assert.ok(llm.requests.length >= 1);
      for (const r of llm.requests) assert.deepEqual(leaks(r.body), [], "an llm request body");
      const tags = await project.git("tag", "-n99");
      assert.match(tags.stdout, /^v0\.1\.\d/m, "tags were made");
      assert.deepEqual(leaks(tags.stdout), [], "a tag message");
      const onHost = await host.ssh(
        "sudo -n cat /var/lib/djaploy/apps/hello/history.jsonl /home/app/apps/hello/slots/*/VERSION",
      );
      assert.equal(onHost.code, 0, onHost.stderr);
      assert.match(onHost.stdout, /"command":"rollback"/);
      assert.match(onHost.stdout, /^VERSION=v0\.1\.\d/m);
      assert.deepEqual(leaks(onHost.stdout), [], "the history or a VERSION file");
      // The app got its secrets (so the values above were really in play).
      const envFile = await host.ssh("sudo -n cat /etc/djaploy/apps/hello/env");
      for (const s of [TEST_SECRET, FILE_SECRET, OP_SECRET]) {
        assert.ok(envFile.stdout.includes(s), "the env file holds the resolved secrets");
      }
      assert.ok(runs.length >= 18);
    });
  },
);
