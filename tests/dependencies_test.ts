import assert from "node:assert/strict";
import { dependencyPlan, detectManager } from "../lib/deploy/dependencies.ts";
import type { HostConfig } from "../lib/config/types.ts";
import { UserError } from "../lib/errors.ts";
import { loadTestProject, withTempDir, writeFiles } from "./helpers/fixtures.ts";

async function withHost(fn: (host: HostConfig, dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(dir, 'project_name = "hello"\n');
    await fn(host, dir);
  });
}

Deno.test("detectManager: poetry.lock, then uv.lock, then requirements.txt", async () => {
  await withTempDir(async (dir) => {
    assert.equal(await detectManager(dir), undefined);
    await writeFiles(dir, { "requirements.txt": "" });
    assert.equal(await detectManager(dir), "pip");
    await writeFiles(dir, { "uv.lock": "" });
    assert.equal(await detectManager(dir), "uv");
    await writeFiles(dir, { "poetry.lock": "" });
    assert.equal(await detectManager(dir), "poetry");
  });
});

Deno.test("dependencyPlan: the venv hash follows the lock file, Python and installer settings", async () => {
  await withHost(async (host, dir) => {
    await writeFiles(dir, {
      "a/requirements.txt": "Django==5.1\n",
      "b/requirements.txt": "Django==5.1\n",
    });
    const a = await dependencyPlan(host, `${dir}/a`);
    assert.equal(a.manager, "pip");
    assert.equal(a.lockFile, "requirements.txt");
    assert.match(a.hash, /^[0-9a-f]{16}$/);
    // Same inputs, same hash (a different folder does not matter).
    assert.equal((await dependencyPlan(host, `${dir}/b`)).hash, a.hash);

    // An artifact does not change once built: another lock is another artifact's.
    await writeFiles(dir, { "c/requirements.txt": "Django==5.2\n" });
    const hashes = new Set([
      a.hash,
      (await dependencyPlan(host, `${dir}/c`)).hash,
      (await dependencyPlan({ ...host, python_version: "3.12" }, `${dir}/a`)).hash,
      (await dependencyPlan(
        { ...host, dependencies: { ...host.dependencies, install_args: ["--no-deps"] } },
        `${dir}/a`,
      )).hash,
      (await dependencyPlan(
        { ...host, dependencies: { ...host.dependencies, system_site_packages: true } },
        `${dir}/a`,
      )).hash,
    ]);
    assert.equal(hashes.size, 5);
  });
});

Deno.test("dependencyPlan: pyproject.toml counts for poetry and uv, not for pip", async () => {
  await withHost(async (host, dir) => {
    await writeFiles(dir, { "p/poetry.lock": "lock\n", "r/requirements.txt": "x\n" });
    const poetry = await dependencyPlan(host, `${dir}/p`);
    const pip = await dependencyPlan(host, `${dir}/r`);
    await writeFiles(dir, {
      "p2/poetry.lock": "lock\n",
      "p2/pyproject.toml": "[project]\n",
      "r2/requirements.txt": "x\n",
      "r2/pyproject.toml": "[project]\n",
    });
    assert.notEqual((await dependencyPlan(host, `${dir}/p2`)).hash, poetry.hash);
    assert.equal((await dependencyPlan(host, `${dir}/r2`)).hash, pip.hash);
  });
});

Deno.test("dependencyPlan: made once per run for hosts that agree on what it reads, again for one that does not", async () => {
  await withHost(async (host, dir) => {
    await writeFiles(dir, { "a/requirements.txt": "Django==5.1\n" });
    const first = await dependencyPlan(host, `${dir}/a`);
    // The artifact is read once: a second host of the fleet does not read it again.
    await Deno.remove(`${dir}/a/requirements.txt`);
    const web2 = { ...host, name: "web2", ssh_hostname: "10.0.0.2" };
    assert.equal((await dependencyPlan(web2, `${dir}/a`)).hash, first.hash);
    // A host with another Python reads it for itself (here: it is gone, which is an error).
    await assert.rejects(
      () => dependencyPlan({ ...host, python_version: "3.12" }, `${dir}/a`),
      UserError,
    );
  });
});

Deno.test("dependencyPlan: no lock file, or not the configured manager's, is a user error", async () => {
  await withHost(async (host, dir) => {
    await assert.rejects(
      () => dependencyPlan(host, dir),
      (err: unknown) =>
        err instanceof UserError &&
        err.message ===
          "Add a dependency file to the project: none of poetry.lock, uv.lock or requirements.txt is in it",
    );
    await writeFiles(dir, { "requirements.txt": "" });
    await assert.rejects(
      () => dependencyPlan({ ...host, dependencies: { ...host.dependencies, manager: "uv" } }, dir),
      (err: unknown) =>
        err instanceof UserError &&
        err.message === 'Add uv.lock to the project: [dependencies] manager is "uv"',
    );
  });
});
