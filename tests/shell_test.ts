import assert from "node:assert/strict";
import { quote, render } from "../lib/shell.ts";
import { sh } from "./helpers/fixtures.ts";

Deno.test("quote: the empty string is two single quotes", () => {
  assert.equal(quote(""), "''");
});

Deno.test("quote: safe strings are left as they are", () => {
  for (
    const s of [
      "abc",
      "/usr/bin/env",
      "KEY=value",
      "deploy@10.0.0.1:22",
      "1.2.3",
      "-rf",
      "--chmod=ugo=rwX,go-w",
      "a+b",
      "50%",
      "snake_case",
    ]
  ) {
    assert.equal(quote(s), s);
  }
});

Deno.test("quote: shell syntax is single-quoted", () => {
  assert.equal(quote("a b"), "'a b'");
  assert.equal(quote("it's"), `'it'\\''s'`);
  assert.equal(quote("'"), `''\\'''`);
  assert.equal(quote("$HOME"), "'$HOME'");
  assert.equal(quote("`id`"), "'`id`'");
  assert.equal(quote("$(id)"), "'$(id)'");
  assert.equal(quote("a\nb"), "'a\nb'");
  assert.equal(quote("*.py"), "'*.py'");
  assert.equal(quote("file?"), "'file?'");
  assert.equal(quote("[abc]"), "'[abc]'");
  assert.equal(quote("~"), "'~'");
  assert.equal(quote("a;b"), "'a;b'");
  assert.equal(quote("a|b&c"), "'a|b&c'");
  assert.equal(quote("#comment"), "'#comment'");
  assert.equal(quote('"'), `'"'`);
  assert.equal(quote("back\\slash"), "'back\\slash'");
  assert.equal(quote("tab\there"), "'tab\there'");
  assert.equal(quote("é"), "'é'");
});

Deno.test("render: joins quoted arguments with single spaces", () => {
  assert.equal(render([]), "");
  assert.equal(render(["ls", "-l", "my dir", ""]), "ls -l 'my dir' ''");
  assert.equal(render(["echo", "it's", "$x"]), `echo 'it'\\''s' '$x'`);
});

const NASTY = [
  "",
  " ",
  "  two  spaces  ",
  "it's",
  "'",
  "''",
  "'\\''",
  '"',
  "\"double\" and 'single'",
  "$HOME",
  "${HOME}",
  "$(id)",
  "`id`",
  "$'\\n'",
  "a\nb",
  "\n",
  "trailing newline\n",
  "\ttab",
  "\\",
  "trailing\\",
  "\\n",
  "*",
  "*.py",
  "?",
  "[a-z]",
  "{a,b}",
  "~",
  "~root",
  "#not a comment",
  "a#b",
  ";",
  "&&",
  "||",
  "|",
  ">",
  "<",
  "2>&1",
  "(",
  ")",
  "!",
  "-n",
  "-e",
  "--",
  "=",
  "a=b",
  "%s",
  "^",
  "é ü 日本語 😀",
  "\x01\x7f",
  "%",
  "@",
  ",",
];

Deno.test("render: every string comes back unchanged through /bin/sh", async () => {
  // NUL separates the values, so values holding newlines are unambiguous.
  const script = `printf '%s\\0' ${render(NASTY)}`;
  const r = await sh(script);
  assert.equal(r.code, 0, r.stderr);
  const back = r.stdout.split("\0");
  assert.equal(back.pop(), "");
  assert.deepEqual(back, NASTY);
});

Deno.test('render: each string alone, as "$@" of sh -c, comes back unchanged', async () => {
  for (const s of NASTY) {
    const r = await sh(`sh -c 'printf "%s" "$@"' sh ${render([s])}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, s);
  }
});

Deno.test("render: long arguments (scripts sent to every host) quote right each time, in each dialect", async () => {
  const long = (i: number) => `echo 'it''s' "$HOME" \`x\` ${i}\n`.repeat(60);
  for (let round = 0; round < 2; round++) {
    // More of them than are kept: each still quoted right, made or kept.
    for (let i = 0; i < 20; i++) {
      const s = long(i);
      assert.ok(s.length >= 1024);
      const r = await sh(`printf '%s' ${render([s])}`);
      assert.equal(r.stdout, s);
      // The same text for rsync's -e: doubled quotes, not the shell's form kept just before.
      assert.equal(render([s], "rsync"), `'${s.replaceAll("'", "''")}'`);
      assert.equal(render([s]), `'${s.replaceAll("'", `'\\''`)}'`);
    }
  }
});
