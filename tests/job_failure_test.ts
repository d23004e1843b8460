/**
 * Failed scheduled jobs announced: with [notifications], each job's service
 * names `{app}-notify-failure@%n.service` in OnFailure=, the template unit
 * runs a confined dynamic user with the webhook URL as a credential from a
 * root-only file, and its Python program POSTs the real Slack / webhook
 * format (run here against a local HTTP server).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../lib/engine/module_api.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { layoutFor } from "../lib/host/layout.ts";
import { wantedUnits } from "../lib/deploy/processes.ts";
import { JOB_FAILURE_PY, jobFailureUnit } from "../templates/job_failure.ts";
import { VERSION } from "../lib/version.ts";
import {
  factsStdout,
  loadTestProject,
  sha256sumOutput,
  withTempDir,
  writeFiles,
  writtenFiles,
} from "./helpers/fixtures.ts";
import { configuredHostAnswers, deployPlan, newRelease, runRecorded } from "./helpers/plans.ts";
import { slackStub, startStub } from "./helpers/http_stub.ts";

const HOOK = "https://hooks.slack.com/services/T0/B0/sekrit-token-123";

const TOML = `project_name = "hello"

[[schedule]]
command = "clearsessions"
on_calendar = "daily"
`;

const NOTIFY = `
[notifications]
display_name = "Hello shop"
webhook_url = "${HOOK}"
`;

const UNITS = "/etc/systemd/system";
const NOTIFIER = `${UNITS}/hello-notify-failure@.service`;
const WEBHOOK_FILE = "/etc/djaploy/apps/hello/notify-webhook";
const JOB = `${UNITS}/hello-schedule-clearsessions.service`;

async function releaseIn(dir: string): Promise<ReleaseInfo> {
  const artifactDir = join(dir, "artifact");
  await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
  return newRelease(artifactDir);
}

const EXPECTED_NOTIFIER = `# djaploy-managed: processes of hello
[Unit]
Description=hello: announce the failed scheduled job %i

[Service]
Type=oneshot
# Neither root nor the app user: a user of its own, for this run only.
DynamicUser=yes
LoadCredential=webhook:/etc/djaploy/apps/hello/notify-webhook
Environment="DJAPLOY_APP=Hello shop"
Environment=DJAPLOY_ENVIRONMENT=test
Environment=DJAPLOY_HOST=web1
Environment=DJAPLOY_UNIT_PREFIX=hello-schedule-
Environment=DJAPLOY_KIND=slack
Environment=DJAPLOY_TIMEOUT=5
Environment=DJAPLOY_VERSION=${VERSION}
ExecStart=/usr/bin/python3 /usr/local/lib/djaploy/job_failure.py %i
TimeoutStartSec=20
# Confinement (djaploy; relax with [systemd] hardening).
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0077
`;

Deno.test("failed jobs: with [notifications] a deploy writes the URL root-only, the program, the confined notifier and OnFailure= in each job", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, TOML + NOTIFY);
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: await releaseIn(dir),
      secrets: true,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const files = writtenFiles(r.exec.recorded);
    assert.equal(files.get(NOTIFIER), EXPECTED_NOTIFIER);
    assert.equal(files.get("/usr/local/lib/djaploy/job_failure.py"), JOB_FAILURE_PY);
    assert.match(
      files.get(JOB)!,
      /^Description=hello: scheduled job clearsessions\nOnFailure=hello-notify-failure@%n\.service\n\n\[Service\]/m,
    );

    // The URL: root:root 0600, sent on stdin as a secret, never on a command line or in output.
    const put = r.exec.recorded.map((x) => x.command).find((c) => c?.argv[4] === WEBHOOK_FILE)!;
    assert.deepEqual(put.argv.slice(4), [WEBHOOK_FILE, "root:root", "0600"]);
    assert.equal(put.as, "root");
    assert.ok(put.stdin instanceof Secret);
    assert.equal((put.stdin as Secret).reveal(), HOOK);
    assert.ok(!r.exec.lines().some((l) => l.includes("sekrit")), r.exec.lines().join("\n"));
    assert.ok(!r.out.includes("sekrit"), r.out);
    // Written before the job units that name it; never enabled (a template, started by OnFailure=).
    const lines = r.exec.lines();
    const urlAt = lines.findIndex((l) => l.includes(WEBHOOK_FILE));
    const jobAt = lines.findIndex((l) => l.includes(JOB));
    assert.ok(urlAt >= 0 && urlAt < jobAt, lines.join("\n"));
    const enable = lines.find((l) => l.includes("systemctl enable"))!;
    assert.match(enable, /enable --quiet -- hello-schedule-clearsessions\.timer$/);
  });
});

Deno.test("failed jobs: no [notifications], notify_on_failure = false or no job: no notifier and no OnFailure=", async () => {
  for (
    const toml of [
      TOML,
      TOML + NOTIFY + "notify_on_failure = false\n",
      'project_name = "hello"\n' + NOTIFY,
    ]
  ) {
    await withTempDir(async (dir) => {
      const loaded = await loadTestProject(dir, toml);
      const units = wantedUnits(loaded.host, layoutFor(loaded.host), {
        manageDir: "/m",
        venv: "/v",
      });
      assert.ok(!units.some((u) => u.unit.includes("notify-failure")), toml);
      const r = await runRecorded({
        loaded,
        plan: await deployPlan(loaded.host, loaded.project.repo_dir),
        facts: factsStdout(await configuredHostAnswers(loaded)),
        release: await releaseIn(dir),
        secrets: true,
      });
      assert.equal(r.result.ok, true, String(r.result.error));
      const files = writtenFiles(r.exec.recorded);
      assert.ok(!files.has(NOTIFIER) && !files.has(WEBHOOK_FILE), toml);
      assert.doesNotMatch(files.get(JOB) ?? "", /OnFailure/, toml);
    });
  }
});

Deno.test("failed jobs: [notifications] removed: the URL file and the notifier are deleted; the template is not stopped by name", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, TOML);
    const answers = await configuredHostAnswers(loaded);
    const onHost = new Map([
      [NOTIFIER, "old notifier"],
      [WEBHOOK_FILE, HOOK],
    ]);
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...answers,
        "file-hashes": { out: answers["file-hashes"].out + sha256sumOutput(onHost) },
        "process-units": { out: "hello-notify-failure@.service\n" },
      }),
      release: await releaseIn(dir),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    assert.ok(
      lines.some((l) => l.endsWith(`rm -f -- ${WEBHOOK_FILE}`)),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.endsWith(`rm -f -- ${NOTIFIER}`)), lines.join("\n"));
    assert.ok(!lines.some((l) => l.includes("disable --now")), lines.join("\n"));
  });
});

/** Runs the notifier's program as systemd would: the failed unit, MONITOR_*, the credential. */
async function runNotifier(url: string, kind: "slack" | "webhook") {
  return await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "webhook"), url + "\n");
    await Deno.writeTextFile(join(dir, "job_failure.py"), JOB_FAILURE_PY);
    const out = await new Deno.Command("python3", {
      args: [join(dir, "job_failure.py"), "hello-schedule-send-digest.service"],
      env: {
        CREDENTIALS_DIRECTORY: dir,
        MONITOR_SERVICE_RESULT: "exit-code",
        MONITOR_EXIT_CODE: "exited",
        MONITOR_EXIT_STATUS: "3",
        DJAPLOY_APP: "Hello <shop>",
        DJAPLOY_ENVIRONMENT: "production",
        DJAPLOY_HOST: "web-1",
        DJAPLOY_UNIT_PREFIX: "hello-schedule-",
        DJAPLOY_KIND: kind,
        DJAPLOY_TIMEOUT: "2",
        DJAPLOY_VERSION: "9.9.9",
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  });
}

Deno.test("failed jobs: the program posts a Slack incoming-webhook message naming the app, host and job", async () => {
  await using slack = slackStub();
  const r = await runNotifier(`${slack.url}/services/T0/B0/tok`, "slack");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "announced the failure of send-digest (exit-code (exited 3))\n");
  assert.equal(slack.requests.length, 1);
  assert.equal(slack.requests[0].path, "/services/T0/B0/tok");
  const msg = slack.requests[0].json as { text: string; blocks: Record<string, unknown>[] };
  assert.equal(
    msg.text,
    "Hello <shop>: scheduled job send-digest failed on web-1 (exit-code (exited 3))",
  );
  assert.deepEqual(msg.blocks[1], {
    type: "section",
    fields: [
      { type: "mrkdwn", text: "*Environment*\nproduction" },
      { type: "mrkdwn", text: "*Host*\nweb-1" },
      { type: "mrkdwn", text: "*Job*\nsend-digest" },
      { type: "mrkdwn", text: "*Result*\nexit-code (exited 3)" },
    ],
  });
  assert.match(JSON.stringify(msg.blocks[2]), /journalctl -u hello-schedule-send-digest\.service/);
});

Deno.test("failed jobs: the program posts the webhook JSON document", async () => {
  await using hook = startStub(() => new Response("ok"));
  const r = await runNotifier(`${hook.url}/hooks/jobs`, "webhook");
  assert.equal(r.code, 0, r.stderr);
  const doc = hook.requests[0].json as Record<string, unknown>;
  assert.match(String(doc.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  delete doc.time;
  assert.deepEqual(doc, {
    event: "schedule.failed",
    app: "Hello <shop>",
    environment: "production",
    host: "web-1",
    job: "send-digest",
    unit: "hello-schedule-send-digest.service",
    result: "exit-code",
    exit_code: "exited",
    exit_status: "3",
    djaploy: "9.9.9",
  });
});

Deno.test("failed jobs: a webhook that refuses is retried once, then reported without its URL", async () => {
  await using hook = startStub(() => new Response("nope", { status: 500 }));
  const r = await runNotifier(`${hook.url}/hooks/secret-path`, "webhook");
  assert.equal(r.code, 1);
  assert.equal(hook.requests.length, 2);
  assert.equal(
    r.stderr,
    "could not announce the failure of send-digest: HTTP 500 (after 2 attempts)\n",
  );
  // Nothing listens here: the error names no URL either.
  const gone = await runNotifier("http://127.0.0.1:9/hooks/secret-path", "slack");
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^could not announce the failure of send-digest: URLError: /);
  assert.ok(!gone.stderr.includes("secret-path"), gone.stderr);
});

Deno.test("failed jobs: the notifier unit's timeout covers two attempts", () => {
  const unit = jobFailureUnit({
    appName: "a",
    displayName: "A",
    environment: "e",
    host: "h",
    kind: "webhook",
    timeout: 12.5,
    webhookFile: "/etc/djaploy/apps/a/notify-webhook",
    version: "1",
  });
  assert.match(unit, /^TimeoutStartSec=35$/m);
});
