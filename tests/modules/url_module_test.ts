import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { loadModules } from "../../lib/engine/module_loader.ts";
import {
  MODULE_MAX_BYTES,
  uncoveredImports,
  verifiedModuleUrl,
} from "../../lib/engine/pinned_module.ts";
import { fetchLimited } from "../../lib/host/verified_download.ts";
import { moduleUrlProblem, parseModule } from "../../lib/config/module_ref.ts";
import { Invalid } from "../../lib/config/validators.ts";
import { ConfigError } from "../../lib/errors.ts";
import { serveFiles } from "./helpers.ts";

const hex = (s: string) => createHash("sha256").update(s).digest("hex");

// Running this module's top level leaves a trace: a refused module must leave none.
const MODULE = `(globalThis as Record<string, unknown>).__djaployPinnedRan = true;
export default { name: "pinned", steps: {} } as { name: string; steps: Record<string, never> };
`;

Deno.test("pinned module: a matching sha256 imports exactly the verified bytes", async () => {
  const server = serveFiles({ "/pinned.ts": MODULE });
  try {
    const url = `${server.url}/pinned.ts`;
    const data = await verifiedModuleUrl(url, hex(MODULE));
    assert.ok(data.startsWith("data:application/typescript;base64,"));
    assert.equal(atob(data.slice(data.indexOf(",") + 1)), MODULE);
    const [mod] = await loadModules([{ spec: url, kind: "url", sha256: hex(MODULE) }], "/");
    assert.equal(mod.name, "pinned");
    assert.equal(server.requests.filter((p) => p === "/pinned.ts").length, 2);
  } finally {
    await server.close();
    delete (globalThis as Record<string, unknown>).__djaployPinnedRan;
  }
});

Deno.test("pinned module: a changed module is refused (exit code 2) before any of it runs", async () => {
  const changed = MODULE.replace("pinned", "changed");
  const server = serveFiles({ "/pinned.ts": changed });
  try {
    const url = `${server.url}/pinned.ts`;
    await assert.rejects(
      loadModules([{ spec: url, kind: "url", sha256: hex(MODULE) }], "/"),
      (e) =>
        e instanceof ConfigError && e.exitCode === 2 &&
        e.message ===
          `Refused module "${url}": its content does not match its pin: sha256 is ${
            hex(changed)
          }, the config pins ${hex(MODULE)}` &&
        /update sha256 in modules/.test(e.hint ?? ""),
    );
    assert.equal((globalThis as Record<string, unknown>).__djaployPinnedRan, undefined);
    await assert.rejects(
      loadModules([{ spec: `${server.url}/missing.ts`, kind: "url", sha256: hex(MODULE) }], "/"),
      (e) => e instanceof ConfigError && /could not be fetched: HTTP 404/.test(e.message),
    );
  } finally {
    await server.close();
  }
});

const ran = () => (globalThis as Record<string, unknown>).__djaployPinnedRan;

/** Loads `source` as a pinned module served on 127.0.0.1 (other files served beside it). */
async function loadPinned(source: string, extra: Record<string, string> = {}) {
  const server = serveFiles({ "/pinned.ts": source, ...extra });
  try {
    const url = `${server.url}/pinned.ts`;
    return {
      url,
      result: await loadModules([{ spec: url, kind: "url", sha256: hex(source) }], "/").then(
        (mods) => ({ mods }),
        (error: unknown) => ({ error }),
      ),
      requests: server.requests,
    };
  } finally {
    await server.close();
    delete (globalThis as Record<string, unknown>).__djaployPinnedRan;
  }
}

Deno.test("pinned module: an import its pin does not cover is refused before any of it runs", async () => {
  const helper = `export const x = 1;\n`;
  const cases: { source: string; found: string; line: number }[] = [
    { source: `import { x } from "./helper.ts";\n${MODULE}`, found: '"./helper.ts"', line: 1 },
    {
      source: `${MODULE}\nexport * from "http://127.0.0.1:1/helper.ts";\n`,
      found: '"http://127.0.0.1:1/helper.ts"',
      line: 4,
    },
    { source: `import "npm:left-pad@1.3.0";\n${MODULE}`, found: '"npm:left-pad@1.3.0"', line: 1 },
    {
      source: `${MODULE}await import("https://deno.land/std/fmt/colors.ts");\n`,
      found: '"https://deno.land/std/fmt/colors.ts"',
      line: 3,
    },
    {
      source: `${MODULE}const where = "./helper.ts";\nawait import(where);\n`,
      found: "a computed specifier",
      line: 4,
    },
  ];
  for (const c of cases) {
    const { url, result, requests } = await loadPinned(c.source, { "/helper.ts": helper });
    assert.ok("error" in result, `${c.found} was accepted`);
    const e = result.error;
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.exitCode, 2);
    assert.equal(
      e.message,
      `Refused module "${url}": it is pinned, but line ${c.line} imports ${c.found}, which the ` +
        "pin does not cover: a pinned module may import only node: built-ins",
    );
    assert.match(e.hint ?? "", /deno bundle/);
    assert.equal(ran(), undefined, "none of it ran");
    assert.deepEqual(requests, ["/pinned.ts"], "nothing else was fetched");
  }
});

Deno.test("pinned module: node: built-ins and type-only imports are covered (part of the runtime, or erased)", async () => {
  const source = `import { createHash } from "node:crypto";
import type { Secret } from "https://example.invalid/types.ts";
export type { Layout } from "https://example.invalid/layout.ts";
const path = await import("node:path");
(globalThis as Record<string, unknown>).__djaployPinnedRan = createHash("sha256").update(path.sep).digest("hex").length;
export default { name: "pinned", steps: {} } as { name: string; steps: Record<string, never>; s?: Secret };
`;
  const server = serveFiles({ "/pinned.ts": source });
  try {
    const url = `${server.url}/pinned.ts`;
    const [mod] = await loadModules([{ spec: url, kind: "url", sha256: hex(source) }], "/");
    assert.equal(mod.name, "pinned");
    assert.equal(ran(), 64);
  } finally {
    await server.close();
    delete (globalThis as Record<string, unknown>).__djaployPinnedRan;
  }
  assert.deepEqual(await uncoveredImports(source), []);
});

Deno.test("module URLs: http:// is refused except on this machine; https:// is allowed", async () => {
  for (
    const ok of [
      "https://example.com/m.ts",
      "http://127.0.0.1:8080/m.ts",
      "http://127.1.2.3/m.ts",
      "http://localhost:3000/m.ts",
      "http://[::1]:3000/m.ts",
    ]
  ) {
    assert.equal(moduleUrlProblem(ok), undefined, ok);
  }
  for (
    const bad of [
      "http://example.com/m.ts",
      "http://10.0.0.1/m.ts",
      "http://127.0.0.1.evil.com/m.ts",
    ]
  ) {
    assert.match(moduleUrlProblem(bad) ?? "", /http:\/\/ is allowed only for this machine/, bad);
    // Refused before anything is fetched: the host does not even resolve.
    for (const sha256 of [undefined, "a".repeat(64)]) {
      await assert.rejects(
        loadModules([{ spec: bad, kind: "url", sha256 }], "/"),
        (e) => e instanceof ConfigError && e.message.startsWith(`Refused module "${bad}": http://`),
      );
    }
  }
  const ctx = { baseDir: "/repo", home: () => "/root" };
  assert.throws(
    () => parseModule("http://example.com/m.ts", ctx, ["core"]),
    (e) =>
      e instanceof Invalid &&
      /refused module "http:\/\/example\.com\/m\.ts": http:\/\//.test(e.message),
  );
  assert.throws(
    () => parseModule({ url: "http://example.com/m.js", sha256: "a".repeat(64) }, ctx, ["core"]),
    (e) =>
      e instanceof Invalid && /refused "http:\/\/example\.com\/m\.js": http:\/\//.test(e.message),
  );
  assert.deepEqual(parseModule("http://127.0.0.1:9/m.ts", ctx, ["core"]), {
    spec: "http://127.0.0.1:9/m.ts",
    kind: "url",
  });
});

Deno.test("pinned module: a download past the size limit is refused while it arrives", async () => {
  const big = "//" + "x".repeat(MODULE_MAX_BYTES) + "\n";
  const { url, result } = await loadPinned(big);
  assert.ok("error" in result);
  assert.ok(result.error instanceof ConfigError);
  assert.equal(
    result.error.message,
    `Fix module "${url}": it could not be fetched: it is larger than djaploy's limit of ` +
      `${MODULE_MAX_BYTES} bytes for this download`,
  );
  // Without a Content-Length to go by, the body is counted.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(
        new ReadableStream({
          start(c) {
            for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(1000));
            c.close();
          },
        }),
      ),
  );
  try {
    await assert.rejects(
      fetchLimited(`http://127.0.0.1:${server.addr.port}/`, { maxBytes: 4000 }),
      /larger than djaploy's limit of 4000 bytes/,
    );
    assert.equal(
      (await fetchLimited(`http://127.0.0.1:${server.addr.port}/`, { maxBytes: 5000 })).length,
      5000,
    );
  } finally {
    await server.shutdown();
  }
});
