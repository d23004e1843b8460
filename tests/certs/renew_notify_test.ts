import assert from "node:assert/strict";
import { notifyWebhook, renewalFailurePayload } from "../../lib/certs/notify.ts";
import { Secret } from "../../lib/secrets/secret.ts";

/** A local stand-in for the webhook: records the JSON bodies it is sent. */
async function withReceiver(
  status: number,
  fn: (url: string, received: unknown[]) => Promise<void>,
): Promise<void> {
  const received: unknown[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    received.push(await req.json());
    return new Response(status === 200 ? "ok" : "nope", { status });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/hook`, received);
  } finally {
    await server.shutdown();
  }
}

const notice = { env: "production", message: "renew failed: token=s3cr3t-token-value" };
const mask = (t: string) => t.replaceAll("s3cr3t-token-value", "[REDACTED]");

Deno.test("renew-certs failure: posted to a Slack webhook, masked", async () => {
  await withReceiver(200, async (url, received) => {
    const warning = await notifyWebhook(
      { kind: "slack", url: new Secret(url), timeoutSeconds: 5, app: "Hello" },
      notice,
      mask,
    );
    assert.equal(warning, undefined);
    assert.equal(received.length, 1);
    const body = received[0] as { text: string; blocks: unknown[] };
    assert.match(body.text, /^Hello: certificate renewal failed in production\n/);
    assert.ok(Array.isArray(body.blocks) && body.blocks.length === 2);
    assert.ok(!JSON.stringify(body).includes("s3cr3t-token-value"));
  });
});

Deno.test("renew-certs failure: the JSON webhook document; a failing webhook is a warning, not an error", async () => {
  const target = { kind: "webhook" as const, timeoutSeconds: 5, app: "Hello" };
  const doc = renewalFailurePayload({ ...target, url: new Secret("http://x") }, notice) as Record<
    string,
    string
  >;
  assert.equal(doc.event, "certificates.renewal_failed");
  assert.equal(doc.environment, "production");
  await withReceiver(500, async (url, received) => {
    const warning = await notifyWebhook({ ...target, url: new Secret(url) }, notice, mask);
    assert.match(warning ?? "", /could not notify webhook: HTTP 500/);
    assert.ok(!(warning ?? "").includes(url), "the webhook URL is a secret");
    assert.equal(received.length, 2, "one retry");
  });
  assert.equal(await notifyWebhook(undefined, notice, mask), undefined);
});
