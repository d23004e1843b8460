import assert from "node:assert/strict";
import { type CommandDef, commandHelp, editDistance, parseArgs } from "../lib/cli/args.ts";
import { UsageError } from "../lib/errors.ts";
import { deployCommand } from "../lib/commands/deploy.ts";
import { configureCommand } from "../lib/commands/configure.ts";
import { verifyCommand } from "../lib/commands/verify.ts";

const DEF: CommandDef = {
  name: "deploy",
  summary: "Deploy the app.",
  flags: [
    { name: "env", short: "e", type: "string", valueName: "NAME", description: "Environment" },
    { name: "parallel", type: "number", valueName: "N", description: "Hosts at once" },
    { name: "dry-run", type: "boolean", description: "Change nothing" },
    { name: "verbose", short: "v", type: "boolean", description: "More output" },
    { name: "release", type: "string", valueName: "TAG", description: "A tag" },
  ],
};

function usageError(fn: () => unknown, message: string, hint?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    assert.equal(err.message, message);
    assert.equal(err.exitCode, 2);
    if (hint !== undefined) assert.equal(err.hint, hint);
    return true;
  });
}

Deno.test("parseArgs: booleans, values, --name=value and positionals", () => {
  const p = parseArgs(
    ["--dry-run", "--env", "production", "--release=v1.2=x", "web1", "--parallel", "3"],
    DEF,
  );
  assert.deepEqual(p.flags, { "dry-run": true, env: "production", release: "v1.2=x", parallel: 3 });
  assert.deepEqual(p.positional, ["web1"]);
  assert.deepEqual(p.rest, []);
});

Deno.test("parseArgs: short flags", () => {
  const p = parseArgs(["-v", "-e", "staging"], DEF);
  assert.deepEqual(p.flags, { verbose: true, env: "staging" });
});

Deno.test("parseArgs: a value may be empty with --name=, and may hold spaces", () => {
  assert.deepEqual(parseArgs(["--env="], DEF).flags, { env: "" });
  assert.deepEqual(parseArgs(["--release", "my tag"], DEF).flags, { release: "my tag" });
});

Deno.test("parseArgs: everything after -- is rest, even flags", () => {
  const p = parseArgs(["--env", "prod", "--", "--dry-run", "-x", "arg"], DEF);
  assert.deepEqual(p.flags, { env: "prod" });
  assert.deepEqual(p.rest, ["--dry-run", "-x", "arg"]);
});

Deno.test("parseArgs: an unknown flag names the command, suggests the nearest and points to help", () => {
  usageError(
    () => parseArgs(["--dryrun"], DEF),
    'Unknown option --dryrun for "djaploy deploy" (did you mean --dry-run?)',
    "See: djaploy deploy --help",
  );
  usageError(
    () => parseArgs(["--paralel=2"], DEF),
    'Unknown option --paralel for "djaploy deploy" (did you mean --parallel?)',
  );
  usageError(
    () => parseArgs(["--frobnicate"], DEF),
    'Unknown option --frobnicate for "djaploy deploy"',
  );
  usageError(() => parseArgs(["-x"], DEF), 'Unknown option -x for "djaploy deploy"');
});

Deno.test("parseArgs: a missing value says what is needed", () => {
  usageError(() => parseArgs(["--env"], DEF), "--env needs a value: NAME");
  usageError(() => parseArgs(["-e"], DEF), "--env needs a value: NAME");
  usageError(() => parseArgs(["--env", "--dry-run"], DEF), "--env needs a value: NAME");
  usageError(() => parseArgs(["--parallel"], DEF), "--parallel needs a value: N");
});

Deno.test("parseArgs: a value that starts with - can be given with =", () => {
  assert.deepEqual(parseArgs(["--release=-rc1"], DEF).flags, { release: "-rc1" });
});

Deno.test("parseArgs: a boolean flag takes no value", () => {
  usageError(() => parseArgs(["--dry-run=yes"], DEF), '--dry-run takes no value: got "yes"');
});

Deno.test("parseArgs: numbers must be whole and at least 1", () => {
  assert.equal(parseArgs(["--parallel=12"], DEF).flags.parallel, 12);
  for (const bad of ["0", "1.5", "abc", "", "NaN"]) {
    usageError(
      () => parseArgs([`--parallel=${bad}`], DEF),
      `--parallel must be a whole number of 1 or more: got "${bad}"`,
    );
  }
  usageError(() => parseArgs(["--parallel", "-2"], DEF), "--parallel needs a value: N");
});

Deno.test("editDistance: insertions, deletions and substitutions", () => {
  assert.equal(editDistance("", ""), 0);
  assert.equal(editDistance("abc", "abc"), 0);
  assert.equal(editDistance("--env", "--en"), 1);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("commandHelp: usage, summary, aliases and every flag with its value name", () => {
  const help = commandHelp({ ...DEF, aliases: ["ship"], args: "[HOST...]" });
  assert.equal(
    help,
    [
      "Usage: djaploy deploy [options] [HOST...]",
      "",
      "Deploy the app.",
      "",
      "Aliases: ship",
      "",
      "Options:",
      "  -e, --env NAME     Environment",
      "      --parallel N   Hosts at once",
      "      --dry-run      Change nothing",
      "  -v, --verbose      More output",
      "      --release TAG  A tag",
    ].join("\n"),
  );
});

Deno.test("commandHelp: the real commands list each of their flags", () => {
  for (const def of [deployCommand, configureCommand, verifyCommand] as CommandDef[]) {
    const help = commandHelp(def);
    assert.match(help, new RegExp(`^Usage: djaploy ${def.name} \\[options\\]`));
    for (const f of def.flags) {
      assert.ok(help.includes(`--${f.name}`), `${def.name} help lacks --${f.name}`);
      assert.ok(help.includes(f.description), `${def.name} help lacks "${f.description}"`);
      if (f.short) assert.ok(help.includes(`-${f.short}, --${f.name}`));
    }
  }
});

Deno.test("parseArgs: flags are typed by a definition declared as const", () => {
  const def = {
    name: "history",
    summary: "History.",
    flags: [
      { name: "limit", type: "number", description: "N" },
      { name: "env", type: "string", description: "E" },
      { name: "json", type: "boolean", description: "J" },
    ],
  } as const satisfies CommandDef;
  const { flags } = parseArgs(["--limit", "3", "--env", "prod", "--json"], def);
  // Type-checked: each flag has its definition's type, with no cast.
  const limit: number | undefined = flags.limit;
  const env: string | undefined = flags.env;
  const json: true | undefined = flags.json;
  // @ts-expect-error: --limit is a number, not a string.
  const wrong: string | undefined = flags.limit;
  // @ts-expect-error: the definition has no --hosts.
  flags.hosts;
  assert.deepEqual([limit, env, json, wrong], [3, "prod", true, 3]);
});
