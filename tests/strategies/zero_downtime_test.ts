import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/module.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  deployPlan,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";

const DJAPLOY_TOML = `project_name = "hello"
deployment_strategy = "zero_downtime"

[health_check]
path = "/healthz/"
`;

/**
 * A run was killed after it moved the live link to green but before it wrote
 * state.json, which still says blue. The next deploy must take the link's
 * word: green serves, so the new release starts in blue, and green is not
 * restarted under its visitors.
 */
Deno.test("zero_downtime: the live link, not a stale state.json, decides which slot serves", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, DJAPLOY_TOML);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = {
      name: "20261126T070102Z-abc1234",
      artifactDir,
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-new",
    };
    const stale = {
      strategy: "zero_downtime",
      release: "r1",
      commit: "c1",
      ref: "main",
      tree: "tree-old",
      venv: "/v",
      deployed_at: "2026-11-26T00:00:00Z",
      environment: "test",
      active: "blue",
      slots: {
        blue: { state: "active", release: "r1" },
        green: { state: "staged", release: "r2" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(stale) },
        "live-socket": { out: "/run/hello-green/hello.sock\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled inactive",
            "hello-green.service": "enabled active",
          }),
        },
        // The run before stopped blue moments ago and its drain is still pending.
        "drain-units": {
          out: "djaploy-drain-hello-blue-rmx1.service loaded active running /bin/sh -c ...\n",
        },
      }),
      release,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines().join("\n");
    assert.match(lines, /systemctl restart hello-blue\.service/, "the new release starts in blue");
    assert.doesNotMatch(
      lines,
      /systemctl restart hello-green\.service/,
      "the serving slot is left alone",
    );
    assert.match(
      lines,
      /\/run\/djaploy\/hello\.sock \/run\/hello-blue\/hello\.sock/,
      "traffic moves to blue",
    );
    // That drain would stop the release this run starts in blue.
    const recorded = r.exec.lines();
    const cancel = recorded.findIndex((l) =>
      l.endsWith("systemctl stop -- djaploy-drain-hello-blue-rmx1.service")
    );
    const restart = recorded.findIndex((l) => l.endsWith("systemctl restart hello-blue.service"));
    assert.ok(cancel >= 0 && cancel < restart, "a pending drain of blue is cancelled first");
  });
});
