import assert from "node:assert/strict";
import { newShared, note, noteValue } from "../lib/engine/module_api.ts";

Deno.test("shared state: a key, not its name, identifies a value; a run starts with its note values", () => {
  const mine = note<string>("token");
  const theirs = note<number>("token");
  const shared = newShared([noteValue(mine, "a")]);
  shared.set(theirs, 2);
  assert.equal(
    shared.get(mine),
    "a",
    "another module's key of the same name does not overwrite it",
  );
  assert.equal(shared.get(theirs), 2);
  assert.equal(shared.has(note<string>("token")), false);
});

Deno.test("shared state: need names the key no earlier step provided", () => {
  const shared = newShared();
  const venv = note<string>("venv");
  assert.throws(
    () => shared.need(venv),
    /A step needs "venv", which no earlier step of the plan provided/,
  );
  shared.set(venv, "/v");
  assert.equal(shared.need(venv), "/v");
});
