import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { digestHex, sha256, sha256Hex, sharedTextSha256 } from "../lib/hash.ts";

const reference = (text: string) => createHash("sha256").update(text).digest("hex");

Deno.test("sha256 and sha256Hex: the known digest of a text and of its bytes", async () => {
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(sha256("abc"), abc);
  assert.equal(sha256(new TextEncoder().encode("abc")), abc);
  assert.equal(await sha256Hex("abc"), abc);
  assert.equal(await sha256Hex(new TextEncoder().encode("abc")), abc);
});

Deno.test("sha256Hex and digestHex: node:crypto's digests, at every length around SHA's blocks", async () => {
  const bytes = new Uint8Array(300).map((_, i) => (i * 131 + 7) % 256);
  for (let n = 0; n <= bytes.length; n++) {
    const part = bytes.subarray(0, n);
    assert.equal(await sha256Hex(part), createHash("sha256").update(part).digest("hex"), `${n}`);
    assert.equal(await digestHex("SHA-1", part), createHash("sha1").update(part).digest("hex"));
  }
  // Text as UTF-8, as sha256 takes it.
  assert.equal(await sha256Hex("é ✓ 🚀"), sha256("é ✓ 🚀"));
});

Deno.test("sharedTextSha256: each text's own digest, looked up again or made anew, past the table's size", async () => {
  // More texts than the table keeps, twice over: a digest is never another text's.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 600; i++) {
      const text = `[Unit]\nDescription=web ${i} é\n`;
      assert.equal(await sharedTextSha256(text), reference(text));
    }
  }
  assert.equal(await sharedTextSha256(""), reference(""));
});
