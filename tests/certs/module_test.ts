/** The certs module's HTTPS step on a recorded host: what it sends, and that it sends nothing twice. */
import { noteValue } from "../../lib/engine/module_api.ts";
import assert from "node:assert/strict";
import { factsStdout, loadTestProject, sha256hex, withTempDir } from "../helpers/fixtures.ts";
import { runRecorded } from "../helpers/plans.ts";
import { modulePlanParts } from "../../lib/engine/runner.ts";
import certsModule from "../../modules/certs/mod.ts";
import { httpsStep, INCOMING_CERTS } from "../../lib/certs/https.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { APPLY_TEST_FAILED } from "../../templates/cert_scripts.ts";

const TOML = `project_name = "hello"
modules = ["core", "nginx", "systemd", "certs"]

[certificates]
email = "ops@example.com"
issue_on = "controller"

[[certificates.domains]]
name = "example.com"
alt_names = ["www.example.com"]
`;
const CHAIN = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n";

async function setup(dir: string) {
  const loaded = await loadTestProject(dir, TOML);
  const plan = { ...modulePlanParts([certsModule], loaded.host), steps: [httpsStep] };
  const notes = [
    noteValue(
      INCOMING_CERTS,
      new Map([["example.com", { fullchain: CHAIN, privkey: new Secret(KEY) }]]),
    ),
  ];
  return { loaded, plan, notes };
}

Deno.test("https step: stages certificate, key (on stdin), site, redirect, link; applies; waits until served", async () => {
  await withTempDir(async (dir) => {
    const { loaded, plan, notes } = await setup(dir);
    const run = await runRecorded({
      loaded,
      plan,
      notes,
      facts: factsStdout({ certs: { out: "@@djaploy-certs hashes\n" } }),
    });
    assert.ok(run.result.ok, String(run.result.error));
    const cmds = run.exec.recorded.map((r) => r.command!).filter((c) =>
      !c.argv[2]?.includes("@@djaploy-fact")
    );
    const staged = cmds.filter((c) => c.argv[2]?.includes('cat > "$1.djaploy-new"')).map((
      c,
    ) => [c.argv[4], c.argv[5]]);
    assert.deepEqual(staged, [
      ["/etc/djaploy/certs/example.com/fullchain.pem", "0644"],
      ["/etc/djaploy/certs/example.com/privkey.pem", "0600"],
      ["/etc/nginx/sites-available/hello-tls.conf", "0644"],
      ["/etc/nginx/djaploy.d/hello/https-redirect.conf", "0644"],
    ]);
    const keyCmd = cmds.find((c) => c.argv[4]?.endsWith("privkey.pem"))!;
    assert.ok(keyCmd.stdin instanceof Secret, "the key travels as a Secret on stdin");
    assert.ok(
      !cmds.some((c) => c.argv.some((a) => a.includes("secret-key-bytes"))),
      "never in argv",
    );
    const apply = cmds.find((c) => c.argv[2]?.includes("nginx -t"))!;
    assert.deepEqual(apply.argv.slice(4), [
      "/etc/djaploy/certs/example.com/fullchain.pem",
      "/etc/djaploy/certs/example.com/privkey.pem",
      "/etc/nginx/sites-available/hello-tls.conf",
      "/etc/nginx/djaploy.d/hello/https-redirect.conf",
      "/etc/nginx/sites-enabled/hello-tls.conf",
    ]);
    assert.ok(cmds.at(-1)!.argv[2].includes("openssl s_client"), "waits until nginx serves it");
    assert.ok(!run.out.includes("secret-key-bytes") && !run.err.includes("secret-key-bytes"));
  });
});

Deno.test("https step: everything already in place sends nothing", async () => {
  await withTempDir(async (dir) => {
    const { loaded, plan, notes } = await setup(dir);
    const first = await runRecorded({
      loaded,
      plan,
      notes,
      facts: factsStdout({ certs: { out: "@@djaploy-certs hashes\n" } }),
    });
    const written = new Map<string, string>();
    for (const r of first.exec.recorded) {
      const c = r.command!;
      if (c.argv[2]?.includes('cat > "$1.djaploy-new"')) {
        written.set(c.argv[4], c.stdin instanceof Secret ? c.stdin.reveal() : String(c.stdin));
      }
    }
    const hashes = [...written].map(([p, t]) => `${sha256hex(t)}  ${p}`).join("\n");
    const facts = factsStdout({
      certs: {
        out: `@@djaploy-certs cert example.com\n${CHAIN}@@djaploy-certs hashes\n${hashes}\n` +
          "@@djaploy-certs link /etc/nginx/sites-available/hello-tls.conf\n",
      },
    });
    const again = await runRecorded({ loaded, plan, notes, facts });
    assert.ok(again.result.ok);
    assert.equal(again.exec.recorded.length, 1, "only the facts command");
    assert.deepEqual(again.result.steps.flatMap((s) => s.changes), []);
  });
});

Deno.test("https step: nginx -t fails: a clear error saying the old files serve on", async () => {
  await withTempDir(async (dir) => {
    const { loaded, plan, notes } = await setup(dir);
    const run = await runRecorded({
      loaded,
      plan,
      notes,
      facts: factsStdout({ certs: { out: "@@djaploy-certs hashes\n" } }),
      respond: (cmd) =>
        cmd.argv[2]?.includes("nginx -t")
          ? { code: APPLY_TEST_FAILED, stderr: "nginx: [emerg] cannot load certificate key" }
          : undefined,
    });
    assert.equal(run.result.ok, false);
    assert.equal(run.result.failedStep, "https");
    const err = run.result.error as Error & { hint?: string };
    assert.equal(
      err.message,
      "Fix the HTTPS configuration on web1: nginx -t failed with the new files, so the previous " +
        "ones are back in place and nginx keeps serving them",
    );
    assert.match(err.hint!, /cannot load certificate key/);
  });
});
