import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { loadModules } from "../../lib/modules.ts";
import { verifiedModuleUrl } from "../../lib/pinned_module.ts";
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
