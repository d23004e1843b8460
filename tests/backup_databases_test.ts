import assert from "node:assert/strict";
import { appDatabaseDir, sqliteUrlPath } from "../lib/backup/databases.ts";
import { webConfinement } from "../lib/host/confinement.ts";
import { layoutFor } from "../lib/host/layout.ts";
import { withTempDir } from "./helpers/fixtures.ts";
import { project } from "./modules/helpers.ts";

Deno.test("sqliteUrlPath: dj-database-url's absolute sqlite URLs only", () => {
  assert.equal(sqliteUrlPath("sqlite:////home/app/db/x.sqlite3"), "/home/app/db/x.sqlite3");
  assert.equal(sqliteUrlPath("sqlite:////home/app/a%20b.db?timeout=5"), "/home/app/a b.db");
  assert.equal(sqliteUrlPath("sqlite:///db.sqlite3"), undefined, "relative to the app");
  assert.equal(sqliteUrlPath("sqlite://"), undefined);
  assert.equal(sqliteUrlPath("postgres://u@h/db"), undefined);
});

Deno.test("the web unit may write the folder of a database [env] names outside the data folder", async () => {
  const cases: [string, string | undefined][] = [
    ['DATABASE_PATH = "/home/app/apps/hello/shared/db.sqlite3"', "/home/app/apps/hello/shared"],
    ['DATABASE_URL = "sqlite:////home/app/db/x.sqlite3"', "/home/app/db"],
    ['DATABASE_PATH = "/home/app/data/sub/x.sqlite3"', undefined],
    ['DATABASE_PATH = "/srv/x.sqlite3"', undefined],
    ['DATABASE_PATH = "env:DB"', undefined],
  ];
  for (const [line, dir] of cases) {
    await withTempDir(async (tmp) => {
      const { host } = await project(
        tmp,
        `project_name = "hello"\napp_user = "app"\n\n[env]\n${line}\n`,
      );
      const layout = layoutFor(host);
      assert.equal(appDatabaseDir(host, layout), dir, line);
      const writable = webConfinement(host, layout).writable;
      if (dir) assert.ok(writable.includes(`-${dir}`), `${line}: ${writable.join(" ")}`);
      else assert.deepEqual(writable.slice(0, 2), [layout.dataDir, layout.mediaRoot]);
      assert.equal(writable.length, dir ? 3 : 2, line);
    });
  }
});
