import assert from "node:assert/strict";
import {
  isSecretRef,
  maskSecrets,
  parseSecretRef,
  REDACTED,
  Secret,
} from "../lib/secrets/secret.ts";
import { Ui } from "../lib/output/ui.ts";

const VALUE = "hunter2-very-secret";

Deno.test("Secret: String(), template literals and concatenation give [REDACTED]", () => {
  const s = new Secret(VALUE);
  assert.equal(REDACTED, "[REDACTED]");
  assert.equal(String(s), "[REDACTED]");
  assert.equal(`key=${s}`, "key=[REDACTED]");
  assert.equal("key=" + s, "key=[REDACTED]");
  assert.equal(s.toString(), "[REDACTED]");
});

Deno.test("Secret: JSON.stringify gives [REDACTED], also inside objects", () => {
  const s = new Secret(VALUE);
  assert.equal(JSON.stringify(s), '"[REDACTED]"');
  assert.equal(JSON.stringify({ env: { KEY: s } }), '{"env":{"KEY":"[REDACTED]"}}');
});

Deno.test("Secret: Deno.inspect (console.log) gives [REDACTED], also inside objects", () => {
  const s = new Secret(VALUE);
  assert.equal(Deno.inspect(s), "[REDACTED]");
  const nested = Deno.inspect({ env: new Map([["KEY", s]]), list: [s] }, { depth: 10 });
  assert.ok(!nested.includes(VALUE), nested);
  assert.ok(nested.includes("[REDACTED]"), nested);
});

Deno.test("Secret: reveal() gives the value", () => {
  assert.equal(new Secret(VALUE).reveal(), VALUE);
  assert.equal(new Secret("").reveal(), "");
});

Deno.test("maskSecrets: replaces every occurrence of every secret", () => {
  assert.equal(
    maskSecrets(`a ${VALUE} b ${VALUE} c token-1234`, [VALUE, "token-1234"]),
    "a [REDACTED] b [REDACTED] c [REDACTED]",
  );
  assert.equal(maskSecrets("nothing here", [VALUE]), "nothing here");
  assert.equal(maskSecrets("regex chars a.*b", ["a.*b"]), "regex chars [REDACTED]");
});

Deno.test("maskSecrets: values shorter than 4 characters are left alone (they would mask everything)", () => {
  assert.equal(maskSecrets("abc a 1", ["abc", "a", "1", ""]), "abc a 1");
  assert.equal(maskSecrets("abcd", ["abcd"]), "[REDACTED]");
});

Deno.test("Ui: every line goes through the mask", () => {
  const out: string[] = [];
  const err: string[] = [];
  const ui = new Ui({
    verbosity: "verbose",
    color: false,
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
  });
  ui.addSecret(VALUE);
  ui.line(`line ${VALUE}`);
  ui.result(`result ${VALUE}`);
  ui.debug(`debug ${VALUE}`);
  ui.warn(`warn ${VALUE}`);
  ui.error(`error ${VALUE}`);
  assert.deepEqual(out, ["line [REDACTED]\n", "result [REDACTED]\n", "debug [REDACTED]\n"]);
  assert.deepEqual(err, ["warning: warn [REDACTED]\n", "error [REDACTED]\n"]);
});

Deno.test("parseSecretRef: env:, file: and op:// references", () => {
  assert.deepEqual(parseSecretRef("env:DB_PASSWORD"), {
    kind: "env",
    target: "DB_PASSWORD",
    source: "env:DB_PASSWORD",
  });
  assert.deepEqual(parseSecretRef("file:~/secrets/key.txt"), {
    kind: "file",
    target: "~/secrets/key.txt",
    source: "file:~/secrets/key.txt",
  });
  assert.deepEqual(parseSecretRef("op://vault/item/field"), {
    kind: "op",
    target: "op://vault/item/field",
    source: "op://vault/item/field",
  });
  assert.deepEqual(parseSecretRef("file:a:b"), { kind: "file", target: "a:b", source: "file:a:b" });
});

Deno.test("parseSecretRef: plain values are not references", () => {
  for (
    const v of ["", "plain", "env:", "file:", "ENV:X", "https://example.com", " env:X", "op:/x"]
  ) {
    assert.equal(parseSecretRef(v), undefined, v);
  }
});

Deno.test("isSecretRef: references, not strings or secrets", () => {
  assert.equal(isSecretRef(parseSecretRef("env:X")), true);
  assert.equal(isSecretRef("env:X"), false);
  assert.equal(isSecretRef(null), false);
  assert.equal(isSecretRef(new Secret("x")), false);
});
