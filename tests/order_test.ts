/** The one text order (lib/order.ts), and that nothing sorts through the locale's collator. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { textOrder } from "../lib/order.ts";

Deno.test("textOrder: by code unit, not by the locale (capitals before small letters, digits first)", () => {
  const names = ["b", "a", "B", "20261202T171745Z-cd38839", "20261202T171707Z-f32f387", "é"];
  assert.deepEqual([...names].sort(textOrder), [
    "20261202T171707Z-f32f387",
    "20261202T171745Z-cd38839",
    "B",
    "a",
    "b",
    "é",
  ]);
  assert.equal(textOrder("x", "x"), 0);
});

Deno.test("no code of djaploy sorts with localeCompare (its collator blocks the main thread for milliseconds a call)", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        const text = await Deno.readTextFile(path);
        if (/\.localeCompare\(/.test(text)) found.push(path.slice(root.length));
      }
    }
  };
  for (const dir of ["lib", "modules", "templates"]) await walk(join(root, dir));
  for (const file of ["cli.ts", "mod.ts"]) {
    if (/\.localeCompare\(/.test(await Deno.readTextFile(join(root, file)))) found.push(file);
  }
  assert.deepEqual(found, [], "use textOrder (lib/order.ts)");
});
