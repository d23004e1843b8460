import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/module.ts";
import { dependencyPlan } from "../../lib/dependencies.ts";
import { layoutFor, venvDir } from "../../lib/layout.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  deployPlan,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";

/**
 * The live slot (blue) runs this very code, so the staging slot (green) is
 * not uploaded unless something changes: it may hold older code, or none.
 * migrate's check must run in blue, which holds the code being deployed.
 */
Deno.test("bluegreen: redeploying the live code asks the database from the live slot, not the stale staging one", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\ndeployment_strategy = "bluegreen"\n',
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = {
      name: "20261126T070102Z-abc1234",
      artifactDir,
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-live",
    };
    const { hash } = await dependencyPlan(loaded.host, artifactDir);
    const venv = venvDir(layoutFor(loaded.host), hash, "3.11");
    const record = {
      release: "20261125T000000Z-abc1234",
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-live",
      venv,
      deployed_at: "2026-11-25T00:00:00.000Z",
      environment: "test",
    };
    const state = {
      strategy: "bluegreen",
      ...record,
      active: "blue",
      slots: { blue: { ...record, state: "active" } },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(state) },
        "venvs": { out: `${venv}\n` },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled active",
            "hello-green.service": "enabled inactive",
          }),
        },
      }),
      release,
      respond: (cmd) =>
        cmd.argv.some((a) => a.includes('MIGRATE = "check"'))
          ? { stdout: "djaploy: 0 migrations to apply\n" }
          : undefined,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const migrate = r.exec.lines().find((l) => l.includes("manage.py shell -c"));
    assert.ok(
      migrate?.startsWith("sudo -n -H -u app -- env -C /home/app/apps/hello/slots/blue "),
      migrate,
    );
    assert.match(migrate!, new RegExp(` ${venv}/bin/python manage\\.py shell -c `));
    // green gets the code only afterwards (here, because a unit file changed).
    const lines = r.exec.lines();
    const upload = lines.findIndex((l) => l.includes("-> /home/app/apps/hello/slots/green/"));
    assert.ok(upload === -1 || upload > lines.indexOf(migrate!), lines.join("\n"));
  });
});
