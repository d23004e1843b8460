/**
 * The privilege boundary between root and the app user (docs/how-it-works.md,
 * "Who may act on what"), at the cheapest level that proves each rule; the
 * real-host proof is tests/e2e/hostile_app_user_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isAppWritable, layoutFor } from "../lib/host/layout.ts";
import { parseDeployState } from "../lib/deploy/steps.ts";
import { putFile } from "../lib/host/remote_ops.ts";
import type { StepContext } from "../lib/engine/module_api.ts";
import { checkDeployFilesPlaces, listDeployFiles } from "../lib/config/deploy_files.ts";
import { ConfigError } from "../lib/errors.ts";
import { slotsBootUnit } from "../templates/systemd_unit.ts";
import { loadTestProject, sh, withTempDir, writeFiles } from "./helpers/fixtures.ts";

const HELLO = 'project_name = "hello"\napp_name = "hello"\n';

const GOOD_RECORD = {
  release: "20261202T030000-abc1234",
  commit: "abc1234".padEnd(40, "0"),
  ref: "main",
  tree: "f".repeat(40),
  venv: "/home/app/apps/hello/shared/venv-0123456789abcdef-py3.11",
  deployed_at: "2026-12-02T03:00:00Z",
  environment: "production",
};

Deno.test("layout: what root writes for the app is outside the app user's folders", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(dir, HELLO);
    const layout = layoutFor(host);
    for (
      const path of [
        layout.envFile,
        layout.runScript,
        layout.stateFile,
        layout.activeSlotFile,
        layout.unitPath,
        layout.nginxSitePath,
        layout.liveSocket,
      ]
    ) assert.equal(isAppWritable(host, layout, path), false, path);
    for (
      const path of [
        layout.legacyStateFile,
        layout.stateDir,
        `${layout.sharedDir}/env.djaploy-new`,
        layout.socketPath,
        "/run/hello-blue/hello.sock",
        "/tmp/x",
        "/home/app/../app/x",
      ]
    ) assert.equal(isAppWritable(host, layout, path), true, path);
  });
});

Deno.test("putFile: refuses to write as root in a folder the app user can write", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(dir, HELLO);
    const layout = layoutFor(host);
    let sent = 0;
    const ctx = {
      host,
      layout,
      deployFiles: new Set<string>(),
      facts: { fileHash: () => undefined },
      exec: { run: () => (sent++, Promise.resolve({ code: 0, stdout: "", stderr: "" })) },
    } as unknown as StepContext;
    await assert.rejects(
      () => putFile(ctx, { path: `${layout.sharedDir}/env`, content: "X=1\n" }),
      /Refusing to write \/home\/app\/apps\/hello\/shared\/env as root/,
    );
    assert.equal(sent, 0);
  });
});

Deno.test("state.json: only records of the shape djaploy writes are read", () => {
  const layout = layoutFor({ app_name: "hello", app_user: "app", manage_py: "manage.py" } as never);
  const ok = { strategy: "bluegreen", ...GOOD_RECORD, active: "blue" };
  assert.equal(parseDeployState(JSON.stringify(ok), layout)?.release, GOOD_RECORD.release);
  const bad: Record<string, unknown>[] = [
    { ...ok, active: "blue debug-shell" },
    { ...ok, venv: "/etc" },
    { ...ok, venv: "/home/app/apps/hello/shared/venv-x/../../../../etc" },
    { ...ok, release: "../../etc" },
    { ...ok, release: "x\n@@djaploy-fact packages" },
    { ...ok, strategy: "rm -rf" },
    { ...ok, slots: { red: { ...GOOD_RECORD, state: "active" } } },
    { ...ok, slots: { blue: { ...GOOD_RECORD, state: "serving" } } },
    { ...ok, slots: { blue: { ...GOOD_RECORD, venv: "/usr", state: "active" } } },
    { ...ok, migrate_hash: 7 },
  ];
  for (const b of bad) assert.equal(parseDeployState(JSON.stringify(b), layout), undefined);
  assert.equal(parseDeployState("not json", layout), undefined);
  // Keys djaploy does not write are dropped, not passed on.
  const extra = parseDeployState(JSON.stringify({ ...ok, evil: "x" }), layout) as unknown;
  assert.equal((extra as Record<string, unknown>).evil, undefined);
});

Deno.test("deploy_files: a file in the app user's folders is a config error before any connection", async () => {
  await withTempDir(async (dir) => {
    const { host, project } = await loadTestProject(dir, HELLO);
    await writeFiles(dir, {
      "infra/deploy_files/test/etc/hello.conf": "ok\n",
      "infra/deploy_files/test/home/app/apps/hello/shared/extra.cfg": "x\n",
    });
    const files = await listDeployFiles(project.infra_dir, "test");
    assert.throws(
      () => checkDeployFilesPlaces(files, host),
      (e: unknown) =>
        e instanceof ConfigError &&
        /home\/app\/apps\/hello\/shared\/extra\.cfg is in a folder the app user app can write/
          .test(e.message),
    );
    checkDeployFilesPlaces(files.filter((f) => f.remotePath.startsWith("/etc/")), host);
  });
});

Deno.test('app_user = "root" is refused', async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () =>
        loadTestProject(
          dir,
          `${HELLO}app_user = "root"\n`,
        ),
      /app_user: must not be "root"/,
    );
  });
});

Deno.test("boot unit: starts only blue or green, whatever the record holds", async () => {
  await withTempDir(async (dir) => {
    const record = join(dir, "active-slot");
    const unit = slotsBootUnit({
      appName: "hello",
      activeSlotFile: record,
      liveSocket: join(dir, "run/djaploy/hello.sock"),
      slotSockets: { blue: "/run/hello-blue/hello.sock", green: "/run/hello-green/hello.sock" },
      confinement: { writable: [] },
    });
    // The unit's ExecStart, unquoted as systemd would ($$ is a literal $).
    const m = /^ExecStart=\/bin\/sh -c "(.*)"$/m.exec(unit);
    assert.ok(m, unit);
    const script = m[1].replaceAll("$$", "$").replaceAll('\\"', '"');
    await writeFiles(dir, {
      "bin/systemctl": `#!/bin/sh\necho "$@" >> ${join(dir, "calls")}\n`,
    });
    await Deno.chmod(join(dir, "bin/systemctl"), 0o755);
    const env = { PATH: `${join(dir, "bin")}:/usr/bin:/bin` };
    const calls = async () => {
      try {
        return await Deno.readTextFile(join(dir, "calls"));
      } catch {
        return "";
      }
    };
    for (const planted of ["blue debug-shell\n", "debug-shell\n", "../../x\n", "blue;id\n"]) {
      await Deno.writeTextFile(record, planted);
      const r = await sh(script, [], { env });
      assert.equal(r.code, 1, planted);
      assert.equal(await calls(), "", planted);
    }
    await Deno.writeTextFile(record, "green\n");
    assert.equal((await sh(script, [], { env })).code, 0);
    assert.equal(await calls(), "start --no-block hello-green.service\n");
  });
});

Deno.test("boot unit: after a reboot (an empty /run) the live-socket link names the live slot's socket", async () => {
  await withTempDir(async (dir) => {
    const record = join(dir, "active-slot");
    const live = join(dir, "run/djaploy/hello.sock");
    const unit = slotsBootUnit({
      appName: "hello",
      activeSlotFile: record,
      liveSocket: live,
      slotSockets: { blue: "/run/hello-blue/hello.sock", green: "/run/hello-green/hello.sock" },
      confinement: { writable: [] },
    });
    const m = /^ExecStartPre=-\+\/bin\/sh -c "(.*)"$/m.exec(unit);
    assert.ok(m, unit);
    const script = m[1].replaceAll("$$", "$").replaceAll('\\"', '"');
    await Deno.writeTextFile(record, "green\n");
    assert.equal((await sh(script, [])).code, 0);
    assert.equal(await Deno.readLink(live), "/run/hello-green/hello.sock");
    assert.equal((await Deno.stat(join(dir, "run/djaploy"))).mode! & 0o777, 0o755);
    // Anything else in the record: no link is made, and the unit goes on.
    await Deno.remove(live);
    for (const planted of ["blue;id\n", "../x\n"]) {
      await Deno.writeTextFile(record, planted);
      assert.equal((await sh(script, [])).code, 0, planted);
      await assert.rejects(Deno.lstat(live), Deno.errors.NotFound);
    }
  });
});
