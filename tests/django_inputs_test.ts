import assert from "node:assert/strict";
import { join } from "node:path";
import { djangoInputs, isStaticInput } from "../lib/django/static_inputs.ts";
import { withTempDir, writeFiles } from "./helpers/fixtures.ts";

Deno.test("isStaticInput: every non-Python file, settings modules and static folders; not views or migrations", () => {
  for (
    const p of [
      "pages/static/site.css",
      "assets/app.js",
      "templates/base.html",
      "hello/settings.py",
      "config/settings/prod.py",
      "pages/static/x.py",
    ]
  ) {
    assert.ok(isStaticInput(p), p);
  }
  for (const p of ["pages/views.py", "pages/migrations/0001_initial.py", "manage.py"]) {
    assert.ok(!isStaticInput(p), p);
  }
});

Deno.test("djangoInputs: the collectstatic hash changes with [env], settings, static files and dependencies; not with a view", async () => {
  await withTempDir(async (dir) => {
    const files = {
      "hello/settings.py": "STATIC_URL = '/static/'\n",
      "pages/views.py": "def index(r): pass\n",
      "frontend/dist/app.js": "1\n",
    };
    const opts = { dependencyHash: "d1", python: "3.11", env: new Map([["A", "1"]]) };
    const hash = async (
      changes: Record<string, string> = {},
      o: Partial<typeof opts> = {},
    ) => {
      const d = join(dir, crypto.randomUUID());
      await writeFiles(d, { ...files, ...changes });
      return (await djangoInputs(d, { ...opts, ...o })).static;
    };
    const base = await hash();
    assert.match(base, /^[0-9a-f]{16}$/);
    assert.equal(await hash(), base, "the same inputs, the same hash");
    assert.equal(await hash({ "pages/views.py": "def index(r): return 1\n" }), base);
    assert.notEqual(await hash({}, { env: new Map([["A", "2"]]) }), base, "[env]");
    assert.notEqual(await hash({ "hello/settings.py": "STATIC_URL = '/s/'\n" }), base, "settings");
    assert.notEqual(
      await hash({ "frontend/dist/app.js": "2\n" }),
      base,
      "STATICFILES_DIRS anywhere",
    );
    assert.notEqual(await hash({}, { dependencyHash: "d2" }), base, "dependencies");
    assert.notEqual(await hash({}, { python: "3.12" }), base, "Python");
  });
});
