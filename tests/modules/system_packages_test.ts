/**
 * `[system] packages`: validated as Debian package names, and installed by
 * configure's apt-get with what djaploy needs itself (recording executor).
 */
import assert from "node:assert/strict";
import { configurePlan, runRecordedWithSecrets } from "./helpers.ts";
import { loadTestProject, withTempDir } from "../helpers/fixtures.ts";
import { ConfigError } from "../../lib/errors.ts";

const TOML = `project_name = "hello"
[dependencies]
manager = "pip"
[system]
packages = ["libjs-jquery", "libpq5"]
`;

Deno.test("[system] packages: configure installs them with djaploy's own, only when missing", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, TOML);
    assert.deepEqual(loaded.host.system.packages, ["libjs-jquery", "libpq5"]);
    const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
    const fresh = await runRecordedWithSecrets({ loaded, plan });
    assert.equal(fresh.result.ok, true, String(fresh.result.error));
    const install = fresh.exec.lines().find((l) => l.includes("apt-get install"));
    assert.ok(install, fresh.text);
    assert.match(install, / python3\.11 python3\.11-venv rsync python3-pip .*libjs-jquery libpq5/);

    // Everything else installed, libpq5 missing: apt-get installs only libpq5.
    const installed = plan.packages.filter((p) => p !== "libpq5")
      .map((p) => `${p} installed\n`).join("");
    const again = await runRecordedWithSecrets({
      loaded,
      plan,
      facts: { packages: { out: installed } },
    });
    assert.equal(again.result.ok, true, String(again.result.error));
    assert.ok(
      again.exec.lines().includes(
        "sudo -n -H -- env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpq5",
      ),
      again.text,
    );
  });
});

Deno.test("[system] packages: a name apt would read as an option or a pattern is refused", async () => {
  for (const bad of ["-o=APT::x", "Libfoo", "a", "libfoo bar", "lib*"]) {
    await withTempDir(async (dir) => {
      const err = await loadTestProject(
        dir,
        `project_name = "hello"\n[system]\npackages = ["libpq5", ${JSON.stringify(bad)}]\n`,
      ).then(() => undefined, (e) => e);
      assert.ok(err instanceof ConfigError, `${bad}: ${err}`);
      assert.match(
        err.message,
        new RegExp(
          `djaploy\\.toml:\\d+: system\\.packages\\[1\\]: must be a Debian package name .*got "${
            bad.replace(/[*.]/g, "\\$&")
          }"`,
        ),
      );
    });
  }
});
