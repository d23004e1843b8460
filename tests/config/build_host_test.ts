import assert from "node:assert/strict";
import {
  buildHost,
  hostResolver,
  mergeLayers,
  resolveDefaults,
} from "../../lib/config/build_host.ts";
import type { Layer } from "../../lib/config/validate_layer.ts";
import { TOP_LEVEL_KEYS } from "../../lib/config/schema.ts";

const BUILTINS = TOP_LEVEL_KEYS.modules.defaultValue as readonly unknown[];
const robots = {
  spec: "./infra/modules/robots.ts",
  kind: "path",
  path: "/repo/infra/modules/robots.ts",
};

/** djaploy.toml as its layer: settings of each kind a host may add to or replace. */
const PROJECT: Layer = {
  project_name: "shop",
  python_version: "3.11",
  modules: [...BUILTINS, robots],
  gunicorn: { workers: 2 },
  health_check: { path: "/health/" },
  env: { DJANGO_SETTINGS_MODULE: "shop.settings", DEBUG: "0" },
  robots: { lines: ["User-agent: *"], sitemap: { path: "/sitemap.xml" } },
};

/** Hosts that set nothing but their address, and hosts that change what defaults are derived from. */
const HOSTS: Layer[] = [
  { name: "web-1", ssh_hostname: "10.0.0.1" },
  { name: "web-2", ssh_hostname: "web2.example.com" },
  { name: "web-3", ssh_hostname: "[2001:db8::3]" },
  { name: "web-4", ssh_hostname: "10.0.0.4", app_name: "shop4" },
  { name: "web-5", ssh_hostname: "10.0.0.5", nginx: { server_name: "shop.example.com www" } },
  { name: "web-6", ssh_hostname: "10.0.0.6", gunicorn: { workers: 8 } },
  { name: "web-7", ssh_hostname: "10.0.0.7", gunicorn: { wsgi_module: "shop.asgi:app" } },
  { name: "web-8", ssh_hostname: "10.0.0.8", env: { DEBUG: "1", EXTRA: "x" } },
  { name: "web-9", ssh_hostname: "10.0.0.9", services: ["shop", "worker"] },
  { name: "web-10", ssh_hostname: "10.0.0.10", robots: { sitemap: { host: "b" } } },
  { name: "web-11", ssh_hostname: "10.0.0.11", health_check: { host: "probe.local" } },
  { name: "web-12", ssh_hostname: "10.0.0.12", modules: [...BUILTINS] },
];

/** Inventory [defaults] of each kind: none, a section, a derived key's source, a module table. */
const DEFAULTS: Layer[] = [
  {},
  { gunicorn: { timeout: 60 }, app_user: "shop" },
  { app_name: "shop-staging", nginx: { server_name: "staging.example.com" } },
  { health_check: { host: "health.internal" }, robots: { lines: ["Disallow: /"] } },
];

Deno.test("hostResolver: each host resolves as resolveDefaults of all its layers merged, and builds the same HostConfig", () => {
  for (const defaults of DEFAULTS) {
    const resolve = hostResolver([PROJECT, defaults]);
    for (const host of HOSTS) {
      const merged = mergeLayers([PROJECT, defaults, host]);
      const whole = resolveDefaults(merged);
      const got = resolve(host);
      const what = `defaults ${JSON.stringify(defaults)}, host ${JSON.stringify(host)}`;
      assert.deepEqual(got.merged, merged, what);
      assert.deepEqual(got.resolved, whole, what);
      assert.deepEqual(buildHost(got.merged, got.resolved), buildHost(merged), what);
    }
  }
});

Deno.test("hostResolver: derived defaults follow each host's own settings", () => {
  const resolve = hostResolver([PROJECT, {}]);
  const plain = buildHost(...args(resolve({ name: "a", ssh_hostname: "10.0.0.1" })));
  const renamed = buildHost(
    ...args(resolve({ name: "b", ssh_hostname: "10.0.0.2", app_name: "x" })),
  );
  const named = buildHost(
    ...args(resolve({ name: "c", ssh_hostname: "10.0.0.3", nginx: { server_name: "c.example" } })),
  );
  assert.equal(plain.app_name, "shop");
  assert.deepEqual(plain.services, ["shop"]);
  assert.equal(plain.health_check.host, "10.0.0.1");
  assert.equal(plain.gunicorn.wsgi_module, "shop.wsgi:application");
  assert.equal(renamed.app_name, "x");
  assert.deepEqual(renamed.services, ["x"]);
  assert.equal(renamed.health_check.host, "10.0.0.2");
  assert.equal(named.health_check.host, "c.example");
  assert.ok(Object.isFrozen(plain.health_check) && Object.isFrozen(plain.services));
});

function args(r: { merged: Record<string, unknown>; resolved: Record<string, unknown> }) {
  return [r.merged, r.resolved] as const;
}
