/** scripts/embed.ts: the programs' files and their embedded copies (programs.gen.ts). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { constantName } from "../scripts/embed.ts";
import { BACKUP_PY, MIGRATE_AND_COLLECTSTATIC_PY } from "../templates/programs.gen.ts";
import { LOCK_BASH } from "../lib/host/programs.gen.ts";
import { withTempDir } from "./helpers/fixtures.ts";

const root = new URL("..", import.meta.url).pathname;
const EMBED = join(root, "scripts", "embed.ts");

async function embed(dir: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      join(dir, "scripts", "embed.ts"),
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("embed: a program's constant is named after its file", () => {
  assert.equal(constantName("drain_and_stop.sh"), "DRAIN_AND_STOP_SH");
  assert.equal(constantName("lock.bash"), "LOCK_BASH");
  assert.equal(constantName("health_check.py"), "HEALTH_CHECK_PY");
});

Deno.test("embed: the generated modules hold each program's file exactly", async () => {
  assert.equal(BACKUP_PY, await Deno.readTextFile(join(root, "templates", "backup.py")));
  assert.equal(
    MIGRATE_AND_COLLECTSTATIC_PY,
    await Deno.readTextFile(join(root, "templates", "migrate_and_collectstatic.py")),
  );
  assert.equal(LOCK_BASH, await Deno.readTextFile(join(root, "lib", "host", "lock.bash")));
  const r = await embed(root, "--check");
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("embed: --check fails on a program changed, added or removed since the last embed", async () => {
  await withTempDir(async (dir) => {
    for (const d of ["scripts", "templates", "lib", "modules/x"]) {
      await Deno.mkdir(join(dir, d), { recursive: true });
    }
    await Deno.copyFile(EMBED, join(dir, "scripts", "embed.ts"));
    const program = join(dir, "modules", "x", "run_it.sh");
    await Deno.writeTextFile(program, 'echo "a `b` ${c} \\\\ d"\n');
    assert.equal((await embed(dir, "--check")).code, 1, "never embedded");
    assert.equal((await embed(dir)).code, 0);
    assert.equal((await embed(dir, "--check")).code, 0);
    const mod = await import(join(dir, "modules", "x", "programs.gen.ts"));
    assert.equal(mod.RUN_IT_SH, await Deno.readTextFile(program));

    await Deno.writeTextFile(program, "echo changed\n");
    const changed = await embed(dir, "--check");
    assert.equal(changed.code, 1);
    assert.match(
      changed.stderr,
      /modules\/x\/programs\.gen\.ts is out of date: run deno task embed/,
    );
    await embed(dir);

    await Deno.writeTextFile(join(dir, "modules", "x", "more.py"), "print(1)\n");
    assert.equal((await embed(dir, "--check")).code, 1, "a new program");
    await embed(dir);

    await Deno.remove(join(dir, "modules", "x", "more.py"));
    await Deno.remove(program);
    const gone = await embed(dir, "--check");
    assert.equal(gone.code, 1, "programs removed");
    assert.match(gone.stderr, /has no programs left/);
    await embed(dir);
    await assert.rejects(Deno.stat(join(dir, "modules", "x", "programs.gen.ts")));
  });
});
