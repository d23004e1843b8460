/**
 * In process, every command of the CLI with verbose output against a host
 * that refuses connections, with secrets of every kind configured (env:,
 * file:, op:// through a stand-in `op`, the webhook URL, the llm key): the
 * error paths print none of them, and neither does the failure announcement.
 * (tests/e2e/secrets_test.ts covers the success paths on a real server.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS, main } from "../cli.ts";
import { sh, withTempDir, writeFiles } from "./helpers/fixtures.ts";
import { makeOpStub } from "./helpers/op_stub.ts";
import { slackStub } from "./helpers/http_stub.ts";

const ENV_SECRET = "unit-env-secret-51d0c2";
const FILE_SECRET = "unit-file-secret-8e2a44";
const OP_SECRET = "unit-op-secret-c39f17";
const LLM_KEY = "unit-llm-key-77aa01";
const HOOK_TOKEN = "unit-hook-token-4f9e6b";
const SECRETS = [ENV_SECRET, FILE_SECRET, OP_SECRET, LLM_KEY, HOOK_TOKEN];

/** Arguments that reach each command's work (not just its usage check). */
const ARGS: Record<string, string[]> = {
  manage: ["--", "check"],
  exec: ["--", "true"],
  maintenance: ["status"],
  unlock: ["--yes"],
  rollback: [],
};
/** Interactive: would take over the terminal. */
const SKIP = new Set(["ssh"]);

Deno.test({
  name:
    "secrets: no command prints a secret on its error paths (verbose), nor in the failure announcement",
  // ssh's ControlMaster and the op stand-in are subprocesses that end on their own schedule.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      await using slack = slackStub();
      await using op = await makeOpStub({
        "op://unit/app/token": OP_SECRET,
        "op://unit/llm/key": LLM_KEY,
      });
      await writeFiles(dir, {
        "secret.txt": `${FILE_SECRET}\n`,
        "manage.py": "",
        "infra/djaploy.toml": [
          'project_name = "hello"',
          "[env]",
          'SECRET_KEY = "env:UNIT_SECRET_KEY"',
          `FILE_TOKEN = "file:${join(dir, "secret.txt")}"`,
          'OP_TOKEN = "op://unit/app/token"',
          "[versioning]",
          'tag_environments = ["test"]',
          "[notifications]",
          'webhook_url = "env:UNIT_WEBHOOK_URL"',
          'changelog_generator = "llm"',
          "[notifications.changelog_config]",
          'api_url = "http://127.0.0.1:1/v1/chat/completions"',
          'model = "m"',
          'api_key = "op://unit/llm/key"',
          "",
        ].join("\n"),
        "infra/inventory/test.toml": [
          "[[hosts]]",
          'name = "web1"',
          'ssh_hostname = "127.0.0.1"',
          "ssh_port = 1",
          "",
        ].join("\n"),
      });
      const git = (...a: string[]) => sh('git "$@"', a, { cwd: dir });
      await git("init", "-q", "-b", "main");
      await git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A");
      await git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "Initial");

      const saved = { PATH: Deno.env.get("PATH")!, cwd: Deno.cwd() };
      Deno.env.set("PATH", op.path);
      Deno.env.set("UNIT_SECRET_KEY", ENV_SECRET);
      Deno.env.set("UNIT_WEBHOOK_URL", `${slack.url}/services/T/B/${HOOK_TOKEN}`);
      Deno.env.set("DJAPLOY_CACHE_DIR", join(dir, ".cache"));
      Deno.chdir(dir);
      const ran: string[] = [];
      try {
        for (const { def } of COMMANDS) {
          if (SKIP.has(def.name)) continue;
          const extra = ARGS[def.name] ?? [];
          const at = extra.includes("--") ? extra.indexOf("--") : extra.length;
          for (const dry of def.flags.some((f) => f.name === "dry-run") ? [false, true] : [false]) {
            const argv = [
              def.name,
              "--env",
              "test",
              "-v",
              ...(dry ? ["--dry-run"] : []),
              ...extra.slice(0, at),
              ...extra.slice(at),
            ];
            let output = "";
            const write = (t: string) => output += t;
            let code: number | string;
            try {
              code = await main(argv, { write, writeErr: write, isTerminal: false });
            } catch (err) {
              // A bug's stack is output too.
              code = "threw";
              output += String(err instanceof Error ? err.stack : err);
            }
            ran.push(`${argv.join(" ")} -> ${code}`);
            for (const s of SECRETS) {
              assert.ok(
                !output.includes(s),
                `djaploy ${argv.join(" ")} printed a secret:\n${output}`,
              );
            }
          }
        }
      } finally {
        Deno.chdir(saved.cwd);
        Deno.env.set("PATH", saved.PATH);
        for (const name of ["UNIT_SECRET_KEY", "UNIT_WEBHOOK_URL", "DJAPLOY_CACHE_DIR"]) {
          Deno.env.delete(name);
        }
      }
      assert.ok(ran.some((r) => r.startsWith("deploy --env test -v ->")), ran.join("\n"));
      // The failed deploy was announced, without secrets.
      assert.ok(slack.requests.length >= 1, `no announcement; ran:\n${ran.join("\n")}`);
      const failed = slack.requests.find((r) =>
        (r.json as { text: string }).text.includes("failed")
      );
      assert.ok(failed, slack.requests.map((r) => r.body).join("\n"));
      for (const r of slack.requests) {
        for (const s of SECRETS) assert.ok(!r.body.includes(s), "a secret in an announcement");
      }
      assert.equal((await op.calls()).filter((c) => c[0] === "inject").length >= 1, true);
    });
  },
});
