import assert from "node:assert/strict";
import { posix } from "node:path";
import * as remotePath from "../lib/remote_path.ts";

/** Every path of up to four segments drawn from these, with and without a leading or trailing slash. */
function paths(): string[] {
  const segments = ["", ".", "..", "a", "bc", ".env", "a.b", "..x", "x..", "...", " ", "é"];
  const out = new Set<string>(["", "/", "//", "///"]);
  let level: string[][] = segments.map((s) => [s]);
  for (let depth = 1; depth <= 4; depth++) {
    for (const parts of level) {
      const inner = parts.join("/");
      for (const p of [inner, `/${inner}`, `${inner}/`, `/${inner}/`]) out.add(p);
    }
    if (depth < 4) level = level.flatMap((parts) => segments.map((s) => [...parts, s]));
  }
  return [...out];
}

Deno.test("remotePath: normalize, dirname and basename agree with node:path's posix on every path tried", () => {
  const all = paths();
  assert.ok(all.length > 20000, `${all.length} paths`);
  for (const p of all) {
    assert.equal(remotePath.normalize(p), posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    assert.equal(remotePath.dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
    assert.equal(remotePath.basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
    assert.equal(remotePath.isAbsolute(p), posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
  }
});

Deno.test("remotePath: join agrees with node:path's posix, for one to three parts", () => {
  const some = paths().filter((_, i) => i % 97 === 0);
  const parts = ["", "/", ".", "..", "a", "/srv/app", "releases/", "../x", "b//c", "./d"];
  for (const p of some) {
    assert.equal(remotePath.join(p), posix.join(p), `join(${JSON.stringify(p)})`);
    for (const q of parts) {
      assert.equal(remotePath.join(p, q), posix.join(p, q), `join(${JSON.stringify([p, q])})`);
      assert.equal(remotePath.join(q, p), posix.join(q, p), `join(${JSON.stringify([q, p])})`);
      for (const r of parts) {
        assert.equal(remotePath.join(q, p, r), posix.join(q, p, r));
      }
    }
  }
  assert.equal(remotePath.join(), posix.join());
  assert.equal(remotePath.join("/srv/app", "releases", "20261205"), "/srv/app/releases/20261205");
});

Deno.test("remotePath: basename with a suffix, and relative, are node:path's", () => {
  assert.equal(remotePath.basename("/etc/nginx/app.conf", ".conf"), "app");
  assert.equal(remotePath.basename("/a/b.conf/", ".conf"), "b");
  assert.equal(remotePath.relative("/srv/app/releases", "/srv/app/shared"), "../shared");
});
