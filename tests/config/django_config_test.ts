import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { HostConfig } from "../../lib/config/types.ts";

async function load(project: string, inventory = ""): Promise<HostConfig> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_django_" }));
  const files = {
    "infra/djaploy.toml": project,
    "infra/inventory/production.toml": inventory +
      '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    return (await loadEnvironment(await loadProject({ cwd: dir }), "production")).hosts[0];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadError(project: string): Promise<string> {
  try {
    await load(project);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  throw new Error("expected a config error");
}

const P = 'project_name = "hello"\n';

Deno.test('[django] databases: ["default"] unless set; a list of aliases in its order; the inventory overrides', async () => {
  assert.deepEqual((await load(P)).django.databases, ["default"]);
  const host = await load(`${P}[django]\ndatabases = ["default", "analytics", "legacy_db"]\n`);
  assert.deepEqual(host.django.databases, ["default", "analytics", "legacy_db"]);
  const over = await load(
    `${P}[django]\ndatabases = ["default", "analytics"]\n`,
    '[defaults.django]\ndatabases = ["analytics"]\n\n',
  );
  assert.deepEqual(over.django.databases, ["analytics"]);
});

Deno.test("[django] databases: bad aliases, duplicates, an empty list and unknown keys name the file, line and key", async () => {
  const cases: [string, RegExp][] = [
    [
      '[django]\ndatabases = ["default", "my db"]\n',
      /djaploy\.toml:3: django\.databases\[1\]: must be an alias of settings\.DATABASES \(letters, digits, _ and -, not starting with a digit or -, e\.g\. "default"\): got "my db"/,
    ],
    [
      '[django]\ndatabases = ["default", "analytics", "default"]\n',
      /djaploy\.toml:3: django\.databases\[2\]: must not repeat an alias: "default" is entry 1 and entry 3/,
    ],
    [
      "[django]\ndatabases = []\n",
      /djaploy\.toml:3: django\.databases: must name at least one database alias of settings\.DATABASES \(e\.g\. \["default"\]\): got \[\]/,
    ],
    [
      '[django]\ndatabases = "default"\n',
      /django\.databases: must be an array of database aliases: got "default"/,
    ],
    [
      '[django]\ndatabase = ["default"]\n',
      /djaploy\.toml:3: django: unknown key "database" \(did you mean "databases"\?\)/,
    ],
  ];
  for (const [toml, expected] of cases) {
    assert.match(await loadError(P + toml), expected);
  }
});
