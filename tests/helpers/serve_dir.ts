/**
 * A tiny static file server on 127.0.0.1 for tests: the repository served
 * over HTTP, as `deno run https://.../cli.ts` users fetch it.
 */
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
};

export interface ServedDir {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly port: number;
  /** Requests served, by path (what deno fetched). */
  readonly requested: string[];
  close(): Promise<void>;
}

/** Serves the files under `root` on a free port of 127.0.0.1 (GET only, no listings). */
export function serveDir(root: string): ServedDir {
  const requested: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = normalize(decodeURIComponent(new URL(req.url).pathname));
    requested.push(path);
    if (req.method !== "GET" || path.split("/").includes("..")) {
      return new Response("no", { status: 400 });
    }
    try {
      const body = await Deno.readFile(join(root, path));
      return new Response(body, {
        headers: { "content-type": TYPES[extname(path)] ?? "application/octet-stream" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const port = server.addr.port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requested,
    close: () => server.shutdown(),
  };
}
