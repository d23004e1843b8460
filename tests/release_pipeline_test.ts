/** The release pipeline's end of a deploy: no tag, push or notice when no host ran. */
import assert from "node:assert/strict";
import { releasePipeline } from "../lib/release/pipeline.ts";
import type { Session } from "../lib/engine/session.ts";
import type { HostResult } from "../lib/engine/runner.ts";
import { SecretResolver } from "../lib/secrets/resolve.ts";
import { newStats } from "../lib/exec/executor.ts";
import { collectingUi, loadTestProject, sh, withTempDir } from "./helpers/fixtures.ts";
import { startStub } from "./helpers/http_stub.ts";

Deno.test("release pipeline: when no host ran there is no tag, no push and no notice", async () => {
  await using hook = startStub(() => new Response("ok"));
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      [
        'project_name = "hello"',
        "[versioning]",
        'tag_environments = ["test"]',
        "push_tags = false",
        "[notifications]",
        `webhook_url = "${hook.url}/hook"`,
      ].join("\n") + "\n",
    );
    const git = await sh(
      "git init -q -b main && git -c user.name=t -c user.email=t@example.test add -A && " +
        "git -c user.name=t -c user.email=t@example.test -c commit.gpgsign=false " +
        "commit -q -m one && git tag v1.0.0 && " +
        "git -c user.name=t -c user.email=t@example.test -c commit.gpgsign=false " +
        "commit -q --allow-empty -m two && git rev-parse HEAD",
      [],
      { cwd: dir },
    );
    assert.equal(git.code, 0, git.stderr);
    const commit = git.stdout.trim();
    const run = async (results: HostResult[]) => {
      const { ui, out, err } = collectingUi();
      const session = {
        ui,
        project: loaded.project,
        env: loaded.env,
        hosts: loaded.env.hosts,
        dryRun: false,
        secrets: new SecretResolver({ baseDir: dir, onSecret: (v) => ui.addSecret(v) }),
      } as unknown as Session;
      const pipeline = releasePipeline(session, {
        mode: "latest",
        commandLine: "deploy --env test --latest",
      });
      await pipeline.prepare({ name: "r", artifactDir: dir, commit, ref: "main", tree: "t" });
      await pipeline.finish(results);
      const tags = (await sh("git tag -l", [], { cwd: dir })).stdout.trim().split("\n");
      return { out: out.join(""), err: err.join(""), tags };
    };

    const none = await run([]);
    assert.deepEqual(none.tags, ["v1.0.0"], "no host ran, yet a tag was made");
    assert.equal(hook.requests.length, 0, "no host ran, yet a notice went out");
    assert.match(none.err, /no host ran: no tag, no push, no notification/);

    // The same pipeline with one host that succeeded tags and announces: the check above means something.
    const one: HostResult = { host: "web1", ok: true, steps: [], ms: 1, stats: newStats() };
    const ran = await run([one]);
    assert.deepEqual(ran.tags, ["v1.0.0", "v1.0.1"]);
    assert.equal(hook.requests.length, 1);
  });
});

Deno.test("release pipeline: --local with build outputs ([artifact] include) is not a dirty version; git's changes are", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      ['project_name = "hello"', "[versioning]", "push_tags = false"].join("\n") + "\n",
    );
    const git = await sh(
      "git init -q -b main && git -c user.name=t -c user.email=t@example.test add -A && " +
        "git -c user.name=t -c user.email=t@example.test -c commit.gpgsign=false " +
        "commit -q -m one && git tag v1.0.0 && git rev-parse HEAD HEAD^{tree}",
      [],
      { cwd: dir },
    );
    assert.equal(git.code, 0, git.stderr);
    const [commit, headTree] = git.stdout.trim().split("\n");
    const version = async (release: { tree: string; gitTree?: string }) => {
      const { ui, out } = collectingUi();
      const session = {
        ui,
        project: loaded.project,
        env: loaded.env,
        hosts: loaded.env.hosts,
        dryRun: true,
        secrets: new SecretResolver({ baseDir: dir, onSecret: (v) => ui.addSecret(v) }),
      } as unknown as Session;
      const pipeline = releasePipeline(session, { mode: "local", commandLine: "deploy --local" });
      await pipeline.prepare({ name: "r", artifactDir: dir, commit, ref: "local", ...release });
      return /^version (\S+)/m.exec(out.join(""))?.[1];
    };
    // The artifact's tree holds the build outputs; git's tree is HEAD's.
    const withOutputs = "0123456789abcdef0123456789abcdef01234567";
    assert.equal(await version({ tree: withOutputs, gitTree: headTree }), "v1.0.0+local");
    assert.match(
      String(await version({ tree: withOutputs })),
      /-dirty$/,
      "the check means something",
    );
  });
});
