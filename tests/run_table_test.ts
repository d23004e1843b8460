import assert from "node:assert/strict";
import { RunTable } from "../lib/run_table.ts";

Deno.test("RunTable: a value is made once and looked up after; a full table forgets and makes anew", () => {
  const made: string[] = [];
  const table = new RunTable<string, string>(2);
  const get = (k: string) => table.get(k, () => (made.push(k), k.toUpperCase()));
  assert.equal(get("a"), "A");
  assert.equal(get("a"), "A");
  assert.equal(get("b"), "B");
  assert.deepEqual(made, ["a", "b"]);
  // Full: the third key clears the table, so "a" is made again, right.
  assert.equal(get("c"), "C");
  assert.equal(get("a"), "A");
  assert.deepEqual(made, ["a", "b", "c", "a"]);
});
