/**
 * Local HTTP servers on 127.0.0.1 that stand in for third-party services
 * (a Slack incoming webhook, an OpenAI-compatible chat completions API):
 * they speak the real protocol over real HTTP and record what they got.
 */

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The body parsed as JSON, when it is JSON. */
  readonly json?: unknown;
}

export interface StubServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type StubHandler = (req: RecordedRequest, index: number) => Response | Promise<Response>;

/** Where a stub listens: 127.0.0.1 unless test hosts must reach it ("0.0.0.0"). */
export interface StubOptions {
  readonly hostname?: string;
}

/** Starts a server that records every request and answers with `handler`. */
export function startStub(handler: StubHandler, opts: StubOptions = {}): StubServer {
  const requests: RecordedRequest[] = [];
  const hostname = opts.hostname ?? "127.0.0.1";
  const server = Deno.serve({ hostname, port: 0, onListen: () => {} }, async (req) => {
    const body = await req.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const recorded: RecordedRequest = {
      method: req.method,
      path: new URL(req.url).pathname,
      headers: Object.fromEntries(req.headers),
      body,
      json,
    };
    requests.push(recorded);
    return await handler(recorded, requests.length - 1);
  });
  const close = async () => {
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A Slack incoming webhook: checks the message format (text and blocks) and answers "ok". */
export function slackStub(opts: StubOptions = {}): StubServer {
  return startStub((req) => {
    const msg = req.json as { text?: unknown; blocks?: unknown } | undefined;
    if (
      req.method !== "POST" || !req.headers["content-type"]?.startsWith("application/json") ||
      typeof msg?.text !== "string" || !Array.isArray(msg.blocks)
    ) {
      return new Response("invalid_payload", { status: 400 });
    }
    return new Response("ok");
  }, opts);
}

/**
 * An OpenAI-compatible chat completions endpoint: checks the request
 * (POST, JSON, bearer key, model, system and user messages) and answers
 * with `content`.
 */
export function chatCompletionsStub(
  opts: { apiKey: string; content: string; model?: string },
): StubServer {
  return startStub((req) => {
    const body = req.json as
      | { model?: unknown; messages?: { role?: unknown; content?: unknown }[] }
      | undefined;
    const problems: string[] = [];
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (req.headers["authorization"] !== `Bearer ${opts.apiKey}`) {
      return Response.json({ error: { message: "Invalid API key" } }, { status: 401 });
    }
    if (!req.headers["content-type"]?.startsWith("application/json")) problems.push("not JSON");
    if (typeof body?.model !== "string" || (opts.model && body.model !== opts.model)) {
      problems.push("model");
    }
    const roles = body?.messages?.map((m) => m.role);
    if (!Array.isArray(body?.messages) || roles?.[0] !== "system" || roles?.at(-1) !== "user") {
      problems.push("messages");
    }
    if (body?.messages?.some((m) => typeof m.content !== "string")) problems.push("content");
    if (problems.length) {
      return Response.json({ error: { message: problems.join(", ") } }, { status: 400 });
    }
    return Response.json({
      id: "chatcmpl-test",
      object: "chat.completion",
      created: 0,
      model: body!.model,
      choices: [{
        index: 0,
        message: { role: "assistant", content: opts.content },
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
  });
}
