/**
 * Shell completions come from the command definitions: every command and
 * flag is in them, bash accepts the script and completes commands, flags,
 * fixed arguments and environments; zsh and fish are checked where installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS, main } from "../cli.ts";
import { argChoices, completionScript, shortSummary } from "../lib/cli/completion_scripts.ts";
import { withTempDir, writeFiles } from "./helpers/fixtures.ts";

async function script(shell: string): Promise<{ code: number; text: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["completions", shell], {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal: false,
  });
  return { code, text: out.join(""), err: err.join("") };
}

async function sh(
  program: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(program, { args, cwd, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function installed(program: string): Promise<boolean> {
  return (await sh("sh", ["-c", 'command -v "$1"', "sh", program]).catch(() => undefined))
    ?.code === 0;
}

/** A project folder with two environments, and a subfolder to complete from. */
async function withProject(fn: (cwd: string, dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "infra/djaploy.toml": 'project_name = "hello"\n',
      "infra/inventory/staging.toml": "",
      "infra/inventory/production.toml": "",
      "pages/x.txt": "",
    });
    await fn(join(dir, "pages"), dir);
  });
}

Deno.test("completions: every command and flag of the definitions is in each script", async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await script(shell);
    assert.equal(r.code, 0, r.err);
    for (const { def } of COMMANDS) {
      assert.ok(r.text.includes(def.name), `${shell} lacks ${def.name}`);
      for (const f of def.flags) {
        const word = shell === "fish" ? `-l ${f.name}` : `--${f.name}`;
        assert.ok(r.text.includes(word), `${shell} lacks --${f.name}`);
      }
    }
  }
  const bad = await script("tcsh");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /Name one shell: bash, zsh, fish: got tcsh/);
});

Deno.test("completions: fixed arguments and short summaries come from the definitions", () => {
  const maintenance = COMMANDS.find((c) => c.def.name === "maintenance")!.def;
  assert.deepEqual(argChoices(maintenance), ["on", "off", "status"]);
  assert.deepEqual(argChoices(COMMANDS.find((c) => c.def.name === "logs")!.def), []);
  assert.equal(shortSummary("Deploy the app: build from git, ship."), "Deploy the app");
  // A quote in a description cannot break out of the script's quoting.
  const text = completionScript("bash", [{
    name: "x",
    summary: "It's here",
    flags: [{ name: "y", type: "boolean", description: "the app's flag" }],
  }]);
  assert.match(text, /x\) opts='--y'; choices='' ;;/);
});

Deno.test("completions: bash accepts the script and completes commands, flags, choices and environments", async () => {
  const r = await script("bash");
  await withProject(async (cwd, dir) => {
    const file = join(dir, "djaploy.bash");
    await Deno.writeTextFile(file, r.text);
    const syntax = await sh("bash", ["-n", file]);
    assert.equal(syntax.code, 0, syntax.stderr);
    const complete = async (...words: string[]) => {
      const out = await sh("bash", [
        "-c",
        'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _djaploy; printf "%s\\n" "${COMPREPLY[@]}"',
        "bash",
        file,
        ...words,
      ], cwd);
      assert.equal(out.code, 0, out.stderr);
      return out.stdout.split("\n").filter(Boolean).sort();
    };
    assert.deepEqual(
      await complete("djaploy", ""),
      [
        "--help",
        "--version",
        ...COMMANDS.map((c) => c.def.name),
      ].sort(),
    );
    assert.deepEqual(await complete("djaploy", "ma"), ["maintenance", "manage"]);
    assert.deepEqual(await complete("djaploy", "maintenance", ""), ["off", "on", "status"]);
    assert.deepEqual(await complete("djaploy", "deploy", "--env", ""), ["production", "staging"]);
    assert.deepEqual(await complete("djaploy", "deploy", "--dry"), ["--dry-run"]);
    assert.deepEqual(await complete("djaploy", "configureserver", "--en"), ["--env"]);
    assert.deepEqual(
      await complete("djaploy", "manage", "--", "mig"),
      [],
      "after -- is manage.py's",
    );
  });
});

Deno.test({
  name: "completions: zsh accepts the script and registers it",
  ignore: !(await installed("zsh")),
  fn: async () => {
    const r = await script("zsh");
    await withTempDir(async (dir) => {
      const file = join(dir, "_djaploy");
      await Deno.writeTextFile(file, r.text);
      assert.equal((await sh("zsh", ["-n", file])).code, 0);
      const out = await sh("zsh", [
        "-c",
        'autoload -Uz compinit && compinit -u -D && source "$1" && print -r -- $_comps[djaploy]',
        "zsh",
        file,
      ]);
      assert.equal(out.stdout.trim(), "_djaploy", out.stderr);
    });
  },
});

Deno.test({
  name: "completions: fish completes commands, choices and environments",
  ignore: !(await installed("fish")),
  fn: async () => {
    const r = await script("fish");
    await withProject(async (cwd, dir) => {
      const file = join(dir, "djaploy.fish");
      await Deno.writeTextFile(file, r.text);
      assert.equal((await sh("fish", ["-n", file])).code, 0);
      const complete = async (line: string) => {
        const out = await sh("fish", ["-c", `source ${file}; complete -C'${line}'`], cwd);
        assert.equal(out.code, 0, out.stderr);
        return out.stdout.split("\n").filter(Boolean).map((l) => l.split("\t")[0]).sort();
      };
      assert.deepEqual(await complete("djaploy ma"), ["maintenance", "manage"]);
      assert.deepEqual(await complete("djaploy maintenance "), ["off", "on", "status"]);
      assert.deepEqual(await complete("djaploy deploy --env "), ["production", "staging"]);
    });
  },
});
