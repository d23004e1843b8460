/**
 * The custom module in mod.ts's module doc runs: loaded by path as a project
 * lists it, planned by `configure` and run on a recorded host, it writes
 * /etc/motd from its fact, and writes nothing when the file already holds it.
 * (`deno test --doc` cannot run it: it imports every export into the
 * example, which noUnusedLocals rejects.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { factsStdout, loadTestProject, sha256sumOutput, withTempDir } from "./helpers/fixtures.ts";
import { configurePlan, runRecorded } from "./helpers/plans.ts";

const REPO = new URL("..", import.meta.url);

/** The first ```ts block of mod.ts's module doc, as a file. */
async function modExample(): Promise<string> {
  const text = await Deno.readTextFile(new URL("mod.ts", REPO));
  const block = /```ts\n([\s\S]*?)\n \* ```/.exec(text.slice(0, text.indexOf("@module")));
  assert.ok(block, "mod.ts's module doc has a ts example");
  return block[1].split("\n").map((l) => l.replace(/^ \* ?/, "")).join("\n") + "\n";
}

Deno.test("mod.ts: the package name the example imports is mod.ts", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)));
  assert.match(await modExample(), new RegExp(`from "${config.name}";`));
  assert.equal(config.exports["."], "./mod.ts");
});

Deno.test("mod.ts: the example module writes /etc/motd once", async () => {
  await withTempDir(async (dir) => {
    const source = (await modExample()).replace(
      '"@djaploy/djaploy"',
      JSON.stringify(new URL("mod.ts", REPO).href),
    );
    await Deno.mkdir(join(dir, "infra", "modules"), { recursive: true });
    await Deno.writeTextFile(join(dir, "infra", "modules", "motd.ts"), source);
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\nmodules = ["./infra/modules/motd.ts"]\n',
    );
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    const facts = { "motd:os": { out: "Debian GNU/Linux 12 (bookworm)\n" } };
    const run = await runRecorded({ loaded, plan, facts: factsStdout(facts) });
    assert.ok(run.result.ok, run.err);
    const want = `${loaded.host.app_name} on Debian GNU/Linux 12 (bookworm)\n`;
    const writes = run.exec.recorded.map((r) => r.command!).filter((c) =>
      c.argv.includes("/etc/motd")
    );
    assert.equal(writes.length, 1);
    assert.equal(writes[0].stdin, want);
    assert.equal(writes[0].as, "root");

    const again = await runRecorded({
      loaded,
      plan,
      facts: factsStdout({
        ...facts,
        "file-hashes": { out: sha256sumOutput(new Map([["/etc/motd", want]])) },
      }),
    });
    assert.ok(again.result.ok, again.err);
    assert.equal(again.exec.recorded.length, 1, "only the facts command");
  });
});
