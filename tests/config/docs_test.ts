import assert from "node:assert/strict";
import { DOCS_PATH, renderConfigDocs } from "../../scripts/gen_config_docs.ts";
import { SECTIONS, TOP_LEVEL_KEYS } from "../../lib/config/schema.ts";

Deno.test("docs/configuration.md is what scripts/gen_config_docs.ts writes", async () => {
  const written = await Deno.readTextFile(DOCS_PATH);
  assert.ok(
    written === renderConfigDocs(),
    "docs/configuration.md is out of date: run " +
      "`deno run --allow-read --allow-write scripts/gen_config_docs.ts`",
  );
});

Deno.test("the docs name every key of the schema", () => {
  const docs = renderConfigDocs();
  for (const key of Object.keys(TOP_LEVEL_KEYS)) assert.ok(docs.includes(`| \`${key}\``), key);
  for (const section of SECTIONS) {
    assert.ok(docs.includes(`## [${section.name}]`), section.name);
    for (const key of Object.keys(section.keys)) {
      assert.ok(docs.includes(`| \`${key}\``), `${section.name}.${key}`);
    }
  }
});

Deno.test("the docs explain files, precedence, secret references and deploy_files", () => {
  const docs = renderConfigDocs();
  for (
    const text of [
      "infra/djaploy.toml",
      "infra/inventory/<env>.toml",
      "Precedence",
      '"env:NAME"',
      '"file:PATH"',
      "op://",
      "infra/deploy_files/<env>/",
    ]
  ) {
    assert.ok(docs.includes(text), text);
  }
});
