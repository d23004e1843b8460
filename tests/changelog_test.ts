import assert from "node:assert/strict";
import {
  changelogText,
  type CommitInfo,
  generateChangelog,
  llmChangelog,
  llmRequest,
  NO_CHANGES,
  simpleChangelog,
} from "../lib/release/changelog_writers.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { chatCompletionsStub, startStub } from "./helpers/http_stub.ts";

const c = (subject: string, parents = 1): CommitInfo => ({ sha: "x", parents, subject });

Deno.test("simpleChangelog: merges, merge subjects and fixups are noise; duplicates appear once", () => {
  const commits = [
    c("Merge pull request #42 from acme/invoices", 2),
    c("Merge branch 'main' into feature"),
    c("Merge remote-tracking branch 'origin/main'"),
    c("Merged develop into main"),
    c("fixup! Send invoices by email"),
    c("squash! Add pricing"),
    c("Send invoices by email"),
    c("  "),
    c("Add the pricing page"),
    c("Add the pricing page"),
    c("Merge conflicts in the README explained"),
  ];
  assert.deepEqual(simpleChangelog(commits), [
    "Send invoices by email",
    "Add the pricing page",
    "Merge conflicts in the README explained",
  ]);
});

Deno.test("changelogText: a bulleted list, long lists counted, uncommitted work said, empty said", () => {
  assert.equal(changelogText(["A", "B"]), "- A\n- B");
  assert.equal(changelogText(["A", "B", "C"], { max: 2 }), "- A\n- B\n- …and 1 more");
  assert.equal(
    changelogText(["A"], { uncommitted: true }),
    "- A\n- Uncommitted changes from the working tree",
  );
  assert.equal(changelogText([]), NO_CHANGES);
});

const LLM = {
  model: "devstral-small-latest",
  timeoutMs: 2000,
  app: "My App",
  version: "v1.2.4",
  subjects: ["Send invoices by email", "Add the pricing page"],
};

Deno.test("llmChangelog: an OpenAI-compatible request (bearer key, model, system + user messages); the answer's content", async () => {
  await using server = chatCompletionsStub({
    apiKey: "sk-test-123456",
    model: LLM.model,
    content: "- Invoices now arrive by email\n- A new pricing page",
  });
  const text = await llmChangelog({
    ...LLM,
    apiUrl: `${server.url}/v1/chat/completions`,
    apiKey: new Secret("sk-test-123456"),
  });
  assert.equal(text, "- Invoices now arrive by email\n- A new pricing page");
  assert.equal(server.requests.length, 1);
  const req = server.requests[0];
  assert.equal(req.path, "/v1/chat/completions");
  assert.equal(req.headers["content-type"], "application/json");
  assert.deepEqual(req.json, llmRequest({ ...LLM, apiUrl: "" }));
  const body = req.json as { messages: { role: string; content: string }[] };
  assert.match(body.messages[1].content, /^Release v1\.2\.4 of My App\./);
  assert.match(body.messages[1].content, /\n- Send invoices by email\n- Add the pricing page$/);
});

Deno.test("llmChangelog: every failure is an Error saying why", async () => {
  await using bad = startStub((_req, i) =>
    [
      Response.json({ error: "overloaded" }, { status: 503 }),
      new Response("<html>gateway</html>"),
      Response.json({ choices: [] }),
      Response.json({ choices: [{ message: { content: "   " } }] }),
    ][i]
  );
  const opts = { ...LLM, apiUrl: `${bad.url}/v1/chat/completions` };
  await assert.rejects(() => llmChangelog(opts), /^Error: HTTP 503: \{"error":"overloaded"\}$/);
  await assert.rejects(() => llmChangelog(opts), /the answer is not JSON: <html>gateway<\/html>/);
  await assert.rejects(
    () => llmChangelog(opts),
    /the answer has no choices\[0\]\.message\.content/,
  );
  await assert.rejects(
    () => llmChangelog(opts),
    /the answer has no choices\[0\]\.message\.content/,
  );
  await assert.rejects(
    () => llmChangelog({ ...opts, apiUrl: "http://127.0.0.1:1/v1/chat/completions" }),
    /cannot reach 127\.0\.0\.1:1/,
  );
});

Deno.test("llmChangelog: a slow endpoint times out", async () => {
  let release = () => {};
  const held = new Promise<void>((r) => release = r);
  await using slow = startStub(async () => {
    await held;
    return Response.json({ choices: [{ message: { content: "late" } }] });
  });
  try {
    await assert.rejects(
      () => llmChangelog({ ...LLM, timeoutMs: 200, apiUrl: slow.url }),
      /^Error: no answer within 0\.2 s$/,
    );
  } finally {
    release();
  }
});

Deno.test("generateChangelog: llm when it answers; simple with a warning on any failure; no call without commits", async () => {
  await using server = chatCompletionsStub({ apiKey: "sk-ok-000000", content: "- Summary" });
  const commits = [c("Send invoices by email"), c("Merge branch 'x'", 2)];
  const llm = { ...LLM, apiUrl: server.url, apiKey: new Secret("sk-ok-000000") };
  assert.deepEqual(await generateChangelog({ generator: "llm", commits, llm }), {
    text: "- Summary",
    source: "llm",
  });
  const failed = await generateChangelog({
    generator: "llm",
    commits,
    llm: { ...llm, apiKey: new Secret("sk-wrong-0000") },
  });
  assert.equal(failed.text, "- Send invoices by email");
  assert.equal(failed.source, "simple");
  assert.match(
    failed.warning!,
    /^the llm changelog failed \(HTTP 401: .*Invalid API key.*\): using the simple changelog$/,
  );
  assert.ok(!failed.warning!.includes("sk-wrong"), "the key is not in the warning");
  assert.deepEqual(await generateChangelog({ generator: "llm", commits: [], llm }), {
    text: NO_CHANGES,
    source: "simple",
  });
  assert.equal(server.requests.length, 2, "no request for an empty changelog");
  assert.deepEqual(await generateChangelog({ generator: "simple", commits, llm }), {
    text: "- Send invoices by email",
    source: "simple",
  });
});
