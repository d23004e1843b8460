import { displayPath } from "../../lib/config/load.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { listDeployFiles } from "../../lib/config/deploy_files.ts";
import { ConfigError } from "../../lib/errors.ts";

/** Runs `fn` with a new infra folder (a temp dir) and always removes it. */
async function withInfra(fn: (infra: string) => Promise<void>): Promise<void> {
  const infra = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_deploy_files_" }));
  try {
    await fn(infra);
  } finally {
    await Deno.remove(infra, { recursive: true });
  }
}

async function write(path: string, text: string, mode = 0o644): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, mode);
}

Deno.test("deploy files: the tree mirrors the server, sorted, with each file's mode", async () => {
  await withInfra(async (infra) => {
    const root = join(infra, "deploy_files", "production");
    await write(join(root, "etc/systemd/system/hello-worker.service"), "[Unit]\n");
    await write(join(root, "usr/local/bin/backup"), "#!/bin/sh\n", 0o755);
    await write(join(root, "etc/cron.d/hello"), "* * * * * app true\n", 0o600);
    await write(join(infra, "deploy_files", "staging", "etc/other"), "x");
    await Deno.mkdir(join(root, "var/empty"), { recursive: true });

    assert.deepEqual(await listDeployFiles(infra, "production"), [
      { localPath: join(root, "etc/cron.d/hello"), remotePath: "/etc/cron.d/hello", mode: 0o600 },
      {
        localPath: join(root, "etc/systemd/system/hello-worker.service"),
        remotePath: "/etc/systemd/system/hello-worker.service",
        mode: 0o644,
      },
      {
        localPath: join(root, "usr/local/bin/backup"),
        remotePath: "/usr/local/bin/backup",
        mode: 0o755,
      },
    ]);
  });
});

Deno.test("deploy files: a missing folder means no files", async () => {
  await withInfra(async (infra) => {
    assert.deepEqual(await listDeployFiles(infra, "production"), []);
  });
});

Deno.test("deploy files: a symlink is rejected, even one that stays inside the tree", async () => {
  await withInfra(async (infra) => {
    const root = join(infra, "deploy_files", "production");
    await write(join(root, "etc/real.conf"), "x");
    await Deno.symlink(join(root, "etc/real.conf"), join(root, "etc/link.conf"));
    await assert.rejects(() => listDeployFiles(infra, "production"), (e: ConfigError) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${
          displayPath(join(root, "etc/link.conf"), Deno.cwd())
        }: must be a regular file or folder: got a symlink`,
      );
      assert.match(e.hint ?? "", /copy the file/);
      return true;
    });
  });
});

Deno.test("deploy files: a symlink to a folder outside the tree is rejected", async () => {
  await withInfra(async (infra) => {
    const root = join(infra, "deploy_files", "production");
    await Deno.mkdir(join(root, "etc"), { recursive: true });
    await Deno.symlink("/etc", join(root, "etc/host-etc"));
    await assert.rejects(
      () => listDeployFiles(infra, "production"),
      (e: ConfigError) => e instanceof ConfigError && e.message.endsWith("got a symlink"),
    );
  });
});

// A unix socket needs net permission (the `test` task grants it); without it the test is skipped.
const canListenUnix = (await Deno.permissions.query({ name: "net" })).state === "granted";

Deno.test({ name: "deploy files: a socket is rejected", ignore: !canListenUnix }, async () => {
  await withInfra(async (infra) => {
    const root = join(infra, "deploy_files", "production");
    await Deno.mkdir(join(root, "run"), { recursive: true });
    const listener = Deno.listen({ transport: "unix", path: join(root, "run/app.sock") });
    try {
      await assert.rejects(() => listDeployFiles(infra, "production"), (e: ConfigError) => {
        assert.equal(
          e.message,
          `${
            displayPath(join(root, "run/app.sock"), Deno.cwd())
          }: must be a regular file or folder: got a socket`,
        );
        return true;
      });
    } finally {
      listener.close();
    }
  });
});

Deno.test("deploy files: an environment name that is a path is rejected", async () => {
  await withInfra(async (infra) => {
    await assert.rejects(
      () => listDeployFiles(infra, "../../etc"),
      (e: ConfigError) =>
        e instanceof ConfigError &&
        e.message ===
          'List deploy files: environment name must match ^[a-z][a-z0-9_-]{0,62}$: got "../../etc"',
    );
  });
});
