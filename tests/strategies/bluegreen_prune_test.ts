import assert from "node:assert/strict";
import { layoutFor } from "../../lib/layout.ts";
import { activateStep } from "../../lib/strategies/bluegreen.ts";
import { slotFacts, slotFiles } from "../../lib/strategies/slots.ts";
import { factsStdout, loadTestProject, withTempDir } from "../helpers/fixtures.ts";
import { configuredHostAnswers, runRecorded, unitsShowOutput } from "../helpers/plans.ts";

const DJAPLOY_TOML = `project_name = "hello"
deployment_strategy = "bluegreen"

[health_check]
path = "/healthz/"
`;

const SHARED = "/home/app/apps/hello/shared";
const venv = (c: string) => `${SHARED}/venv-${c.repeat(16)}-py3.11`;
const rec = (release: string, v: string) => ({
  release,
  commit: "c",
  ref: "main",
  tree: `tree-${release}`,
  venv: v,
  deployed_at: "2026-11-20T00:00:00Z",
  environment: "test",
});

Deno.test("bluegreen: activate keeps the two slots' virtualenvs and removes older ones, in the switch's round trip", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, DJAPLOY_TOML);
    const layout = layoutFor(loaded.host);
    const state = {
      strategy: "bluegreen",
      ...rec("r2", venv("b")),
      active: "blue",
      slots: {
        blue: { ...rec("r2", venv("b")), state: "active" },
        green: { ...rec("r3", venv("c")), state: "staged" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: {
        steps: [activateStep],
        probes: slotFacts(loaded.host, layout),
        files: slotFiles(loaded.host, layout),
        packages: [],
      },
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(state) },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled active",
            "hello-green.service": "enabled active",
          }),
        },
        // a: what blue ran before r2, then unused.
        "venvs": { out: [venv("a"), venv("b"), venv("c")].join("\n") + "\n" },
      }),
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    assert.equal(lines.filter((l) => l.includes("rm -rf")).length, 1, lines.join("\n"));
    const rm = lines.find((l) => l.includes("rm -rf"))!;
    assert.ok(rm.endsWith(`-u app -- rm -rf -- ${venv("a")}`), rm);
    assert.deepEqual(r.result.steps[0].changes.filter((c) => c.startsWith("removed")), [
      `removed 1 unused virtualenv: venv-${"a".repeat(16)}-py3.11`,
    ]);
  });
});
