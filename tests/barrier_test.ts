import assert from "node:assert/strict";
import { Barrier } from "../lib/engine/barrier.ts";

Deno.test("barrier: resolves once every host arrived (or finished without needing it)", async () => {
  const b = new Barrier(["web-1", "web-2", "web-3"]);
  let passed = 0;
  const a1 = b.arrive("staged", "web-1").then(() => passed++);
  const a2 = b.arrive("staged", "web-2").then(() => passed++);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(passed, 0, "nobody passes while web-3 is still on its way");
  b.finish("web-3", true); // web-3 was already live: it needs no activation
  await Promise.all([a1, a2]);
  assert.equal(passed, 2);
});

Deno.test("barrier: a host failing before it arrives stops everyone waiting, naming it", async () => {
  const b = new Barrier(["web-1", "web-2"]);
  const waiting = b.arrive("staged", "web-1");
  b.finish("web-2", false);
  await assert.rejects(waiting, /Not going past "staged": web-2 failed before getting there/);
  await assert.rejects(b.arrive("staged", "web-1"), /web-2 failed/);
});
