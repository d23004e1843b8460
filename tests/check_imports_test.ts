/**
 * scripts/check_imports.ts: an import that points the wrong way, a file in
 * no layer, one module importing another and a cycle are each reported; the
 * repository itself passes.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  checkRepository,
  cycles,
  type Edge,
  edgesFromDenoInfo,
  type Layer,
  layerOf,
  nodeAtStart,
  strategyNameTests,
  wrongWay,
} from "../scripts/check_imports.ts";

const LAYERS: readonly Layer[] = [
  { name: "cli", files: ["cli.ts"], may: ["engine", "base"] },
  {
    name: "builtins",
    files: ["modules/builtin.ts"],
    may: ["modules"],
    importedOnlyBy: ["lib/loader.ts"],
  },
  { name: "modules", files: ["modules/**"], may: ["api"], isolated: "modules/*" },
  { name: "api", files: ["mod.ts"], may: ["base"] },
  { name: "base", files: ["lib/errors.ts", "templates/data.ts"], may: [] },
  { name: "engine", files: ["lib/**"], may: ["builtins", "base"] },
];

const e = (from: string, to: string): Edge => ({ from, to });

Deno.test("check_imports: imports down the layers pass", () => {
  const edges = [
    e("cli.ts", "lib/run.ts"),
    e("lib/run.ts", "lib/errors.ts"),
    e("modules/a/mod.ts", "mod.ts"),
    e("modules/a/mod.ts", "modules/a/steps.ts"),
    e("mod.ts", "lib/errors.ts"),
    e("lib/loader.ts", "modules/builtin.ts"),
    e("modules/builtin.ts", "modules/a/mod.ts"),
  ];
  assert.deepEqual(wrongWay(edges, LAYERS), []);
  assert.deepEqual(cycles(edges), []);
});

Deno.test("check_imports: an import up the layers is reported with what is allowed", () => {
  assert.deepEqual(wrongWay([e("lib/errors.ts", "lib/run.ts")], LAYERS), [
    "lib/errors.ts imports lib/run.ts: base may not import engine (base may import base)",
  ]);
  assert.deepEqual(wrongWay([e("lib/run.ts", "modules/a/mod.ts")], LAYERS), [
    "lib/run.ts imports modules/a/mod.ts: engine may not import modules " +
    "(engine may import engine, builtins, base)",
  ]);
  // The table of built-in modules is the loader's alone.
  assert.deepEqual(wrongWay([e("lib/run.ts", "modules/builtin.ts")], LAYERS), [
    "lib/run.ts imports modules/builtin.ts: only lib/loader.ts may import builtins",
  ]);
  // A module that skips mod.ts for the engine.
  assert.equal(wrongWay([e("modules/a/mod.ts", "lib/run.ts")], LAYERS).length, 1);
});

Deno.test("check_imports: one module importing another is reported", () => {
  assert.deepEqual(wrongWay([e("modules/a/mod.ts", "modules/b/mod.ts")], LAYERS), [
    "modules/a/mod.ts imports modules/b/mod.ts: modules/a may not import modules/b; " +
    "share it through mod.ts or lib/",
  ]);
});

Deno.test("check_imports: a file no layer names is reported once", () => {
  assert.deepEqual(
    wrongWay([e("cli.ts", "scripts/x.ts"), e("lib/run.ts", "scripts/x.ts")], LAYERS),
    ["scripts/x.ts: is in no layer: add it to LAYERS in scripts/check_imports.ts"],
  );
});

Deno.test("check_imports: a layer naming a file wins over a glob that matches it", () => {
  assert.equal(layerOf("templates/data.ts", LAYERS)?.name, "base");
  assert.equal(layerOf("lib/errors.ts", LAYERS)?.name, "base");
  assert.equal(layerOf("lib/deep/run.ts", LAYERS)?.name, "engine");
  assert.equal(layerOf("templates/other.ts", LAYERS), undefined);
});

Deno.test("check_imports: cycles are reported as a loop of files, type imports included", () => {
  assert.deepEqual(
    cycles([
      e("lib/a.ts", "lib/b.ts"),
      e("lib/b.ts", "lib/c.ts"),
      e("lib/c.ts", "lib/a.ts"),
      e("lib/c.ts", "lib/d.ts"),
      e("lib/x.ts", "lib/x.ts"),
    ]),
    ["lib/a.ts -> lib/b.ts -> lib/c.ts -> lib/a.ts", "lib/x.ts -> lib/x.ts"],
  );
});

Deno.test("check_imports: deno info output gives the repository's own edges only", () => {
  const info = {
    modules: [
      {
        specifier: "file:///repo/cli.ts",
        dependencies: [
          { specifier: "./lib/a.ts", code: { specifier: "file:///repo/lib/a.ts" } },
          { specifier: "node:path", code: { specifier: "node:path" } },
          { specifier: "./lib/t.ts", type: { specifier: "file:///repo/lib/t.ts" } },
        ],
      },
      { specifier: "npm:smol-toml@1", dependencies: [] },
      { specifier: "file:///elsewhere/x.ts", dependencies: [] },
    ],
  };
  assert.deepEqual(edgesFromDenoInfo(info, "/repo"), [
    e("cli.ts", "lib/a.ts"),
    e("cli.ts", "lib/t.ts"),
  ]);
});

Deno.test("check_imports: a Node module that loads at start is reported, unless allowed or a type", () => {
  const info = {
    modules: [
      {
        specifier: "file:///repo/lib/hash.ts",
        dependencies: [
          { specifier: "node:crypto", code: { specifier: "node:crypto" } },
          { specifier: "node:path", code: { specifier: "node:path" } },
        ],
      },
      {
        specifier: "file:///repo/lib/node_builtins.ts",
        dependencies: [{ specifier: "node:sqlite", type: { specifier: "node:sqlite" } }],
      },
      {
        specifier: "npm:some-package@1",
        dependencies: [{ specifier: "node:net", code: { specifier: "node:net" } }],
      },
    ],
  };
  const problems = nodeAtStart(info, "/repo");
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /^lib\/hash\.ts imports node:crypto: it would load at every start/);
});

Deno.test("check_imports: a strategy's name compared outside lib/strategies/ is reported", () => {
  const files = new Map([
    ["lib/strategies/zero_downtime.ts", 'if (host.deployment_strategy === "bluegreen") x();'],
    ["lib/config/schema.ts", 'const ok = value === "in_place";'],
    ["lib/commands/status.ts", 'const a = 1;\nif (h.deployment_strategy !== "zero_downtime") {'],
    ["lib/release/announce.ts", 'const staged = names.includes("bluegreen");'],
    ["lib/engine/x.ts", 'switch (s) {\n  case "in_place":'],
    ["lib/output/ui.ts", '// "bluegreen" in a comment or a message is not a test'],
  ]);
  const problems = strategyNameTests(files);
  assert.deepEqual(problems.map((p) => p.split(": ")[0]), [
    "lib/commands/status.ts:2",
    "lib/release/announce.ts:1",
    "lib/engine/x.ts:2",
  ]);
});

Deno.test("check_imports: the repository passes", async () => {
  assert.deepEqual(await checkRepository(fileURLToPath(new URL("..", import.meta.url))), []);
});
