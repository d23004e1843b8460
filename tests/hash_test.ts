import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256, sharedTextSha256 } from "../lib/hash.ts";

const reference = (text: string) => createHash("sha256").update(text).digest("hex");

Deno.test("sha256: the known digest of a text and of its bytes", () => {
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(sha256("abc"), abc);
  assert.equal(sha256(new TextEncoder().encode("abc")), abc);
});

Deno.test("sharedTextSha256: each text's own digest, looked up again or made anew, past the table's size", () => {
  // More texts than the table keeps, twice over: a digest is never another text's.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 600; i++) {
      const text = `[Unit]\nDescription=web ${i} é\n`;
      assert.equal(sharedTextSha256(text), reference(text));
    }
  }
  assert.equal(sharedTextSha256(""), reference(""));
});
