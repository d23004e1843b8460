/**
 * End to end, modules from a URL: a module served over HTTP on 127.0.0.1 is
 * imported (unpinned, and pinned by its sha256) and runs its step on a test
 * host; a pin that does not match is refused before anything runs: exit
 * code 2, and not one SSH login on the host.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { djaploy, e2eTest, makeProject, TEST_SECRET, type TestHost, withHosts } from "./harness.ts";
import { serveDir } from "../helpers/serve_dir.ts";

// djaploy runs with the repository's deno.json, so Deno records the served module (on a port
// of the moment) in deno.lock: the test puts the file back as it found it.
const LOCK = new URL("../../deno.lock", import.meta.url);

// A single-file module (a pinned module must be one: its imports would not be checked).
const MARKER_TS = `export default {
  name: "marker",
  steps: {
    configure: [{
      name: "marker file",
      // deno-lint-ignore no-explicit-any
      async run(ctx: any) {
        const text: string = ctx.host.extra.marker?.text ?? "none";
        await ctx.exec.run({
          argv: ["sh", "-c", 'cat > /etc/djaploy-marker.txt', "sh"],
          as: "root",
          stdin: text + "\\n",
        });
        ctx.changed("wrote /etc/djaploy-marker.txt");
      },
    }],
  },
};
`;

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** SSH logins sshd accepted so far (this query's own login included). */
async function logins(host: TestHost): Promise<number> {
  return Number(
    await onHost(host, "sudo -n journalctl -u ssh --no-pager -o cat | grep -c '^Accepted' || true"),
  );
}

e2eTest(
  "URL modules: served on 127.0.0.1, imported unpinned and pinned, run on the host; a wrong pin is refused before anything runs",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const dir = await Deno.makeTempDir({ prefix: "djaploy-url-module-" });
      const server = serveDir(dir);
      const lock = await Deno.readTextFile(LOCK).catch(() => undefined);
      try {
        await Deno.writeTextFile(join(dir, "marker.ts"), MARKER_TS);
        const url = `${server.origin}/marker.ts`;
        const sha = createHash("sha256").update(MARKER_TS).digest("hex");
        const project = await makeProject({
          hosts: [host],
          modules: ["core", url],
          config: '[marker]\ntext = "from an unpinned URL module"',
        });
        const setModules = async (modules: string, text: string) => {
          const path = join(project.infraDir, "djaploy.toml");
          const toml = (await Deno.readTextFile(path))
            .replace(/^modules = .*$/m, `modules = ${modules}`)
            .replace(/^text = .*$/m, `text = ${JSON.stringify(text)}`);
          await project.write("infra/djaploy.toml", toml);
          await project.commit(text);
        };

        const unpinned = await djaploy(project, ["configure", "--env", "test"]);
        assert.equal(unpinned.code, 0, unpinned.output);
        assert.match(unpinned.output, /changed +marker file/);
        assert.equal(
          await onHost(host, "cat /etc/djaploy-marker.txt"),
          "from an unpinned URL module",
        );

        await setModules(
          `["core", { url = "${url}", sha256 = "${sha}" }]`,
          "from a pinned URL module",
        );
        const pinned = await djaploy(project, ["configure", "--env", "test"]);
        assert.equal(pinned.code, 0, pinned.output);
        assert.equal(await onHost(host, "cat /etc/djaploy-marker.txt"), "from a pinned URL module");

        // The module changes on the server: the pin no longer matches.
        await Deno.writeTextFile(join(dir, "marker.ts"), MARKER_TS.replace("marker file", "evil"));
        await setModules(
          `["core", { url = "${url}", sha256 = "${sha}" }]`,
          "must never be written",
        );
        const before = await logins(host);
        const refused = await djaploy(project, ["configure", "--env", "test"]);
        const after = await logins(host);
        assert.equal(refused.code, 2, refused.output);
        assert.match(
          refused.output,
          /error: Refused module "http:\/\/127\.0\.0\.1:\d+\/marker\.ts": its content does not match its pin/,
        );
        assert.ok(!refused.output.includes(TEST_SECRET));
        assert.equal(
          after,
          before + 1,
          "djaploy opened no SSH connection (only the count itself did)",
        );
        assert.equal(await onHost(host, "cat /etc/djaploy-marker.txt"), "from a pinned URL module");
      } finally {
        await server.close();
        await Deno.remove(dir, { recursive: true });
        if (lock !== undefined) await Deno.writeTextFile(LOCK, lock);
      }
    });
  },
);
