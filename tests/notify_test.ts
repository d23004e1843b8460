import assert from "node:assert/strict";
import {
  type DeployReport,
  failurePayload,
  type FailureReport,
  maskStrings,
  postJson,
  successPayload,
} from "../lib/release/notify.ts";
import { escapeMrkdwn } from "../templates/slack.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { VERSION } from "../lib/version.ts";
import { slackStub, startStub } from "./helpers/http_stub.ts";

const SUCCESS: DeployReport = {
  app: "My App",
  project: "hello",
  environment: "production",
  version: "v1.2.4",
  tag: "v1.2.4",
  commit: "abc1234def5678abc1234def5678abc1234def56",
  ref: "main",
  previousVersion: "v1.2.3",
  commitRange: "v1.2.3..abc1234",
  hosts: ["web-1", "web-2"],
  strategy: "zero_downtime",
  durationSeconds: 83.4,
  deployedBy: "alice@laptop",
  changelog: "- Invoices <by email> & PDF\n- A new pricing page",
  changelogSource: "llm",
  time: "2026-11-26T07:01:02.000Z",
};

const FAILURE: FailureReport = {
  app: "My App",
  project: "hello",
  environment: "production",
  version: "v1.2.4",
  commit: "abc1234def5678abc1234def5678abc1234def56",
  ref: "main",
  hosts: ["web-1", "web-2"],
  succeededHosts: ["web-1"],
  failures: [{
    host: "web-2",
    step: "health check",
    error: "Fix the app on web-2: the health check failed: HTTP 500",
  }],
  durationSeconds: 12,
  deployedBy: "alice@laptop",
  time: "2026-11-26T07:01:02.000Z",
};

const context = {
  type: "context",
  elements: [{ type: "mrkdwn", text: `djaploy ${VERSION} · 2026-11-26T07:01:02.000Z` }],
};

Deno.test("slack success: header, fields, the changelog (mrkdwn-escaped) and a text fallback", () => {
  assert.deepEqual(successPayload("slack", SUCCESS), {
    text: "My App v1.2.4 deployed to production by alice@laptop (2 hosts, 1 min 23 s)",
    blocks: [
      {
        type: "header",
        text: { type: "plain_text", text: "My App v1.2.4 deployed to production", emoji: true },
      },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: "*Environment*\nproduction" },
          { type: "mrkdwn", text: "*Version*\nv1.2.4" },
          { type: "mrkdwn", text: "*Commits*\nv1.2.3..abc1234" },
          { type: "mrkdwn", text: "*Hosts*\nweb-1, web-2" },
          { type: "mrkdwn", text: "*Strategy*\nzero_downtime" },
          { type: "mrkdwn", text: "*Duration*\n1 min 23 s" },
          { type: "mrkdwn", text: "*Deployed by*\nalice@laptop" },
        ],
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: "*Changes*\n- Invoices &lt;by email&gt; &amp; PDF\n- A new pricing page",
        },
      },
      context,
    ],
  });
});

Deno.test("slack failure: the failed host and step, an error excerpt in a code block, who and how long", () => {
  assert.deepEqual(failurePayload("slack", FAILURE), {
    text: "My App v1.2.4 deploy to production failed on web-2 at health check",
    blocks: [
      {
        type: "header",
        text: {
          type: "plain_text",
          text: "My App v1.2.4 deploy to production failed",
          emoji: true,
        },
      },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: "*Environment*\nproduction" },
          { type: "mrkdwn", text: "*Version*\nv1.2.4" },
          { type: "mrkdwn", text: "*Failed*\nweb-2" },
          { type: "mrkdwn", text: "*Succeeded*\nweb-1" },
          { type: "mrkdwn", text: "*Duration*\n12 s" },
          { type: "mrkdwn", text: "*Deployed by*\nalice@laptop" },
        ],
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text:
            "*web-2* at health check:\n```Fix the app on web-2: the health check failed: HTTP 500```",
        },
      },
      context,
    ],
  });
});

Deno.test("slack: long values are cut to Slack's limits", () => {
  const long = successPayload("slack", {
    ...SUCCESS,
    app: "A".repeat(200),
    changelog: "x".repeat(5000),
    hosts: Array.from({ length: 25 }, (_, i) => `web-${i}`),
  }) as { blocks: { text?: { text: string }; fields?: { text: string }[] }[] };
  assert.equal(long.blocks[0].text!.text.length, 150);
  assert.equal(long.blocks[2].text!.text.length, 3000);
  assert.match(long.blocks[1].fields![3].text, /web-9 and 15 more$/);
  assert.equal(escapeMrkdwn("<a> & b"), "&lt;a&gt; &amp; b");
});

Deno.test("webhook: the documented JSON documents", () => {
  assert.deepEqual(successPayload("webhook", SUCCESS), {
    event: "deploy.succeeded",
    app: "My App",
    project: "hello",
    environment: "production",
    version: "v1.2.4",
    tag: "v1.2.4",
    commit: "abc1234def5678abc1234def5678abc1234def56",
    ref: "main",
    previous_version: "v1.2.3",
    commit_range: "v1.2.3..abc1234",
    hosts: ["web-1", "web-2"],
    strategy: "zero_downtime",
    duration_seconds: 83.4,
    deployed_by: "alice@laptop",
    changelog: "- Invoices <by email> & PDF\n- A new pricing page",
    changelog_source: "llm",
    time: "2026-11-26T07:01:02.000Z",
    djaploy: VERSION,
  });
  assert.deepEqual(failurePayload("webhook", FAILURE), {
    event: "deploy.failed",
    app: "My App",
    project: "hello",
    environment: "production",
    version: "v1.2.4",
    commit: "abc1234def5678abc1234def5678abc1234def56",
    ref: "main",
    hosts: ["web-1", "web-2"],
    succeeded_hosts: ["web-1"],
    failures: [{
      host: "web-2",
      step: "health check",
      error: "Fix the app on web-2: the health check failed: HTTP 500",
    }],
    duration_seconds: 12,
    deployed_by: "alice@laptop",
    time: "2026-11-26T07:01:02.000Z",
    djaploy: VERSION,
  });
});

Deno.test("maskStrings: every string of a payload goes through the mask", () => {
  const mask = (t: string) => t.replaceAll("s3cret", "[REDACTED]");
  assert.deepEqual(
    maskStrings({ a: "x s3cret", b: ["s3cret", 1, null], c: { d: true, e: "s3cret!" } }, mask),
    { a: "x [REDACTED]", b: ["[REDACTED]", 1, null], c: { d: true, e: "[REDACTED]!" } },
  );
});

Deno.test("postJson: a Slack webhook gets the JSON message and answers ok", async () => {
  await using slack = slackStub();
  const url = new Secret(`${slack.url}/services/T000/B000/XXXXsecretXXXX`);
  const r = await postJson({ url, body: successPayload("slack", SUCCESS), timeoutMs: 2000 });
  assert.deepEqual(r, { ok: true, attempts: 1 });
  assert.equal(slack.requests[0].path, "/services/T000/B000/XXXXsecretXXXX");
  assert.deepEqual(slack.requests[0].json, successPayload("slack", SUCCESS));
});

Deno.test("postJson: one retry after a failure", async () => {
  await using flaky = startStub((_req, i) =>
    i === 0 ? new Response("busy", { status: 503 }) : new Response("ok")
  );
  const r = await postJson({
    url: new Secret(flaky.url),
    body: {},
    timeoutMs: 2000,
    retryDelayMs: 10,
  });
  assert.deepEqual(r, { ok: true, attempts: 2 });
  assert.equal(flaky.requests.length, 2);
});

Deno.test("postJson: two failures give a reason (no exception); the URL never appears in it", async () => {
  await using broken = startStub(() => new Response("no_service", { status: 404 }));
  const r = await postJson({
    url: new Secret(`${broken.url}/hook/t0ken`),
    body: {},
    timeoutMs: 2000,
    retryDelayMs: 10,
  });
  assert.deepEqual(r, {
    ok: false,
    reason: "HTTP 404: no_service (after 2 attempts)",
    attempts: 2,
  });

  const secretUrl = "http://127.0.0.1:1/hook/t0ken-secret";
  const refused = await postJson({
    url: new Secret(secretUrl),
    body: {},
    timeoutMs: 2000,
    retryDelayMs: 10,
  });
  assert.equal(refused.ok, false);
  assert.match(refused.reason!, /^cannot reach the webhook: /);
  assert.ok(!refused.reason!.includes("t0ken-secret"), refused.reason);
});

Deno.test("postJson: a webhook that does not answer times out (twice), quickly", async () => {
  let release = () => {};
  const held = new Promise<void>((r) => release = r);
  await using slow = startStub(async () => {
    await held;
    return new Response("ok");
  });
  const t = performance.now();
  try {
    const r = await postJson({
      url: new Secret(slow.url),
      body: {},
      timeoutMs: 150,
      retryDelayMs: 10,
    });
    assert.deepEqual(r, {
      ok: false,
      reason: "no answer within 0.15 s (after 2 attempts)",
      attempts: 2,
    });
    assert.ok(performance.now() - t < 2000);
  } finally {
    release();
  }
});
