/**
 * A real PEP 503 package index on the controller, for tests whose apps
 * install their dependencies from an index (PyPI is not reachable here):
 * wheels built by the test from tiny packages in tests/fixtures/index/, served
 * over HTTP with basic auth at /simple/<name>/ (links carry #sha256=), on
 * every address of the controller, so a test host reaches it at
 * 10.231.<index>.1 (its veth's controller side).
 */
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { REPO } from "./environment.ts";
import { run } from "./run.ts";
import type { TestHost } from "./hosts.ts";

export const FIXTURES = join(REPO, "tests/fixtures/index");

export interface PackageIndex {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The index as a host reaches it, without credentials: `http://10.231.N.1:PORT/simple/`. */
  url(host: TestHost): string;
  /** The same with the credentials in it (what a secret reference resolves to). */
  urlWithCredentials(host: TestHost): string;
  /** Every request: `METHOD path status`, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * Builds a wheel of each fixture package (tests/fixtures/index/<dir>) into
 * `outDir` with Debian's pip (`pip wheel --no-deps --no-build-isolation`:
 * no network, setuptools from python3-setuptools). Returns the wheels' paths.
 */
export async function buildWheels(dirs: readonly string[], outDir: string): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const work = await Deno.makeTempDir({ prefix: "djaploy-wheels-" });
  try {
    for (const dir of dirs) {
      // Built from a copy: an in-tree build leaves build/ and *.egg-info behind.
      const copy = join(work, dir);
      const cp = await run("cp", ["-r", join(FIXTURES, dir), copy]);
      if (cp.code !== 0) throw new Error(`cp ${dir}: ${cp.stderr}`);
      const r = await run("/usr/bin/python3", [
        ...["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"],
        ...["--disable-pip-version-check", "-w", outDir, copy],
      ], { timeoutMs: 120_000 });
      if (r.code !== 0) {
        throw new Error(
          `Could not build the wheel of tests/fixtures/index/${dir} (needs python3-pip, ` +
            `python3-wheel, python3-setuptools: scripts/testhosts.sh deps): ${r.stderr.trim()}`,
        );
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  const wheels: string[] = [];
  for await (const e of Deno.readDir(outDir)) if (e.name.endsWith(".whl")) wheels.push(e.name);
  return wheels.sort().map((w) => join(outDir, w));
}

/** PEP 503 name normalization. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");

/** Serves `wheels` as a PEP 503 simple index that asks for basic auth. */
export async function servePackageIndex(wheels: readonly string[]): Promise<PackageIndex> {
  const files = new Map<string, { path: string; sha256: string }>();
  const projects = new Map<string, string[]>();
  for (const path of wheels) {
    const name = basename(path);
    const sha256 = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
    files.set(name, { path, sha256 });
    const project = normalizeName(name.split("-")[0]);
    projects.set(project, [...projects.get(project) ?? [], name]);
  }
  const user = "djt";
  const password = `idx-${crypto.randomUUID().slice(0, 13)}`;
  const expected = `Basic ${btoa(`${user}:${password}`)}`;
  const requests: string[] = [];
  const page = (title: string, links: string[]) =>
    `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">` +
    `<title>${esc(title)}</title></head><body>\n${links.join("<br>\n")}\n</body></html>\n`;
  const answer = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (req.headers.get("authorization") !== expected) {
      return new Response("authentication required\n", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="djaploy test index"' },
      });
    }
    const html = { "content-type": "text/html; charset=utf-8" };
    if (path === "/simple/") {
      const links = [...projects.keys()].sort().map((p) => `<a href="/simple/${p}/">${p}</a>`);
      return new Response(page("Simple index", links), { headers: html });
    }
    const project = /^\/simple\/([^/]+)\/?$/.exec(path)?.[1];
    if (project !== undefined) {
      const names = projects.get(normalizeName(project));
      if (!names) return new Response("not found\n", { status: 404 });
      const links = names.map((n) =>
        `<a href="/files/${esc(n)}#sha256=${files.get(n)!.sha256}" ` +
        `data-requires-python="&gt;=3.9">${esc(n)}</a>`
      );
      return new Response(page(`Links for ${project}`, links), { headers: html });
    }
    const file = /^\/files\/([^/]+)$/.exec(path)?.[1];
    const entry = file ? files.get(decodeURIComponent(file)) : undefined;
    if (!entry) return new Response("not found\n", { status: 404 });
    return new Response(await Deno.readFile(entry.path), {
      headers: { "content-type": "application/octet-stream" },
    });
  };
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen: () => {} }, async (req) => {
    const res = await answer(req);
    requests.push(`${req.method} ${new URL(req.url).pathname} ${res.status}`);
    return res;
  });
  const port = server.addr.port;
  const base = (host: TestHost) => `10.231.${host.index}.1:${port}`;
  return {
    port,
    user,
    password,
    url: (host) => `http://${base(host)}/simple/`,
    urlWithCredentials: (host) => `http://${user}:${password}@${base(host)}/simple/`,
    requests,
    close: () => server.shutdown(),
  };
}
