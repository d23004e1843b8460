/**
 * HTTP requests from the controller to a test host (or 127.0.0.1). Uses
 * node:http because fetch does not let a request choose its Host header.
 */
import http from "node:http";
import https from "node:https";

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
}

export interface HttpGetOptions {
  /** The Host header (and TLS server name); default the URL's host. */
  readonly host?: string;
  /** PEM CA certificate(s) to trust for https. */
  readonly ca?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Default 5000. */
  readonly timeoutMs?: number;
}

const TEST_ADDRESS = /^(10\.231\.\d+\.\d+|127\.\d+\.\d+\.\d+)$/;

/** GETs a URL on a test host or 127.0.0.1, without following redirects. */
export function httpGet(url: string, opts: HttpGetOptions = {}): Promise<HttpResponse> {
  const target = new URL(url);
  if (!TEST_ADDRESS.test(target.hostname)) {
    return Promise.reject(
      new Error(`Send test traffic only to test hosts or 127.0.0.1: got ${url}`),
    );
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  const tls = target.protocol === "https:";
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined = undefined;
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`GET ${url} failed: ${err.message}`));
    };
    const request = (tls ? https : http).request(target, {
      method: "GET",
      agent: false,
      headers: { ...opts.headers, connection: "close", ...(opts.host ? { host: opts.host } : {}) },
      ...(tls ? { ca: opts.ca, servername: opts.host ?? target.hostname } : {}),
    }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => body += chunk);
      response.on("error", fail);
      response.on("end", () => {
        clearTimeout(timer);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
        }
        resolve({ status: response.statusCode ?? 0, body, headers });
      });
    });
    timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`GET ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    request.on("error", fail);
    request.end();
  });
}
