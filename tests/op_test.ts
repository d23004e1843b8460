/** 1Password references through a stand-in `op` on PATH that answers like the real CLI. */
import assert from "node:assert/strict";
import { readOpReferences } from "../lib/secrets/op.ts";
import { secretRefsOf, SecretResolver } from "../lib/secrets/resolve.ts";
import { ConfigError } from "../lib/errors.ts";
import { parseSecretRef, type SecretRef } from "../lib/secrets/secret.ts";
import { makeOpStub, type OpStub } from "./helpers/op_stub.ts";
import { loadTestProject, sh, withTempDir, writeFiles } from "./helpers/fixtures.ts";

const VALUES = {
  "op://Prod/django/secret-key": "dj-secret-4711-abcdef",
  "op://Prod/slack/webhook-url": "https://hooks.slack.test/services/T1/B2/s3cr3t",
  "op://Prod/mistral/api-key": "mistral-key-98765",
  "op://Prod/db/section/password": "multi\nline value with {{ braces }} and $dollar",
};

/** Runs `fn` with the stand-in first on PATH (restored afterwards). */
async function withOp<T>(
  values: Record<string, string>,
  fn: (op: OpStub) => Promise<T>,
  opts: { signedOut?: boolean } = {},
): Promise<T> {
  await using op = await makeOpStub(values, opts);
  const saved = Deno.env.get("PATH");
  Deno.env.set("PATH", op.path);
  try {
    return await fn(op);
  } finally {
    if (saved === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", saved);
  }
}

const ref = (s: string) => parseSecretRef(s) as SecretRef;

Deno.test("op stand-in: `op read` prints the value and `op inject` fills a template, like the real CLI", async () => {
  await withOp(VALUES, async (op) => {
    const read = await sh("op read op://Prod/django/secret-key", [], {
      env: { PATH: op.path },
    });
    assert.equal(read.stdout, "dj-secret-4711-abcdef\n");
    const inject = await sh("printf 'key: {{ op://Prod/django/secret-key }}\\n' | op inject", [], {
      env: { PATH: op.path },
    });
    assert.equal(inject.stdout, "key: dj-secret-4711-abcdef\n");
    const missing = await sh("op read op://Prod/nope/x", [], { env: { PATH: op.path } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^\[ERROR\] .* "nope" isn't an item in the "Prod" vault\.$/m);
  });
});

Deno.test("readOpReferences: every reference in one `op inject` call, values exact (newlines, braces)", async () => {
  await withOp(VALUES, async (op) => {
    const refs = Object.keys(VALUES);
    const values = await readOpReferences([...refs, refs[0]]);
    assert.deepEqual(Object.fromEntries(values), VALUES);
    const calls = await op.calls();
    assert.deepEqual(calls, [["inject"]], "one call, references on stdin, none in argv");
  });
});

Deno.test("SecretResolver: a run's op:// references (env, webhook, api key) are read in one batch and cached", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "secret.txt": "from-a-file-1234\n" });
    const { project, env } = await loadTestProject(
      dir,
      [
        'project_name = "hello"',
        "[env]",
        'SECRET_KEY = "op://Prod/django/secret-key"',
        'DB_PASSWORD = "op://Prod/db/section/password"',
        'FROM_FILE = "file:secret.txt"',
        'PLAIN = "plain-value"',
        "[notifications]",
        'webhook_url = "op://Prod/slack/webhook-url"',
        'changelog_generator = "llm"',
        "[notifications.changelog_config]",
        'api_url = "https://api.mistral.ai/v1/chat/completions"',
        'model = "devstral-small-latest"',
        'api_key = "op://Prod/mistral/api-key"',
      ].join("\n"),
      [
        "[[hosts]]",
        'name = "web1"',
        'ssh_hostname = "10.0.0.1"',
        "[[hosts]]",
        'name = "web2"',
        'ssh_hostname = "10.0.0.2"',
      ].join("\n"),
    );
    await withOp(VALUES, async (op) => {
      const masked: string[] = [];
      const secrets = new SecretResolver({ onSecret: (v) => masked.push(v), baseDir: dir });
      const refs = secretRefsOf(project, env.hosts, { notifications: true });
      assert.deepEqual(refs.filter((r) => r.kind === "op").map((r) => r.source).sort(), [
        "op://Prod/db/section/password",
        "op://Prod/db/section/password",
        "op://Prod/django/secret-key",
        "op://Prod/django/secret-key",
        "op://Prod/mistral/api-key",
        "op://Prod/slack/webhook-url",
      ]);
      assert.equal(
        secretRefsOf(project, env.hosts).filter((r) => r.kind === "op").length,
        4,
        "without notifications: only [env]",
      );
      await secrets.preload(refs);
      for (const host of env.hosts) {
        const appEnv = await secrets.appEnv(host);
        assert.equal(String(appEnv.get("SECRET_KEY")), "[REDACTED]");
        assert.equal(
          (appEnv.get("SECRET_KEY") as { reveal(): string }).reveal(),
          "dj-secret-4711-abcdef",
        );
        assert.equal(appEnv.get("PLAIN"), "plain-value");
      }
      const hook = await secrets.secret(project.notifications!.webhook_url!, "webhook_url");
      assert.equal(hook.reveal(), VALUES["op://Prod/slack/webhook-url"]);
      assert.equal(JSON.stringify({ hook }), '{"hook":"[REDACTED]"}');
      const plain = await secrets.secret("https://hooks.example/plain-token", "webhook_url");
      assert.equal(plain.reveal(), "https://hooks.example/plain-token");
      assert.deepEqual(await op.calls(), [["inject"]], "one op call for the whole run");
      for (
        const v of [
          ...Object.values(VALUES),
          "from-a-file-1234",
          "https://hooks.example/plain-token",
        ]
      ) {
        assert.ok(masked.includes(v), `${v} is masked`);
      }
    });
  });
});

Deno.test("SecretResolver: a reference not preloaded is still read (one call) and then cached", async () => {
  await withOp(VALUES, async (op) => {
    const secrets = new SecretResolver({ onSecret: () => {}, baseDir: "/" });
    const a = await secrets.resolve(ref("op://Prod/django/secret-key"), "env.SECRET_KEY");
    const b = await secrets.resolve(ref("op://Prod/django/secret-key"), "env.SECRET_KEY");
    assert.equal(a, b);
    assert.equal((await op.calls()).length, 1);
  });
});

Deno.test("op errors: an unknown reference, not signed in, no op installed, a malformed reference", async () => {
  await withOp(VALUES, async () => {
    await assert.rejects(
      () => readOpReferences(["op://Prod/django/secret-key", "op://Prod/nope/field"]),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.exitCode, 2);
        assert.match(
          e.message,
          /^Cannot read the 1Password references op:\/\/Prod\/django\/secret-key, op:\/\/Prod\/nope\/field: op inject exited with code 1: \[ERROR\] .*"nope" isn't an item/,
        );
        assert.ok(!e.message.includes("dj-secret-4711"), "no value in the message");
        assert.match(e.hint!, /op signin/);
        return true;
      },
    );
  });
  await withOp(VALUES, async () => {
    await assert.rejects(
      () => readOpReferences(["op://Prod/django/secret-key"]),
      /op inject exited with code 1: \[ERROR\] .*You are not currently signed in/,
    );
  }, { signedOut: true });
  const saved = Deno.env.get("PATH");
  Deno.env.set("PATH", "/nonexistent");
  try {
    await assert.rejects(
      () => readOpReferences(["op://Prod/django/secret-key"]),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          "Install the 1Password CLI (op): the config refers to op://Prod/django/secret-key",
    );
  } finally {
    Deno.env.set("PATH", saved!);
  }
  await assert.rejects(
    () => readOpReferences(["op://just-a-vault"]),
    /Fix the 1Password reference "op:\/\/just-a-vault": it must look like op:\/\/vault\/item\/field/,
  );
});
