/**
 * End to end, bootstrap: a server that only has root with a key (the test
 * image's `deploy` user is removed first) gets `deploy` with the deployer's
 * key and passwordless sudo; `djaploy verify` then works as deploy; with
 * --disable-root-login and --disable-password-login, root and passwords are
 * refused. Runs again without changing anything.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  makeProject,
  type TestHost,
  withHosts,
} from "./harness.ts";
import { run } from "./harness/run.ts";

function ok(r: DjaployResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
}

async function ssh(host: TestHost, user: string, command: string, extra: string[] = []) {
  return await run("ssh", [
    ...[
      "-i",
      host.key,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
    ],
    ...[
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
    ],
    ...extra,
    `${user}@${host.ip}`,
    command,
  ]);
}

e2eTest(
  "bootstrap: root only, then deploy with sudo; verify works; root and password logins refused when asked",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const gone = await ssh(
        host,
        "root",
        "loginctl terminate-user deploy 2>/dev/null; sleep 0.3; userdel -r -f deploy && rm -f /etc/sudoers.d/deploy && ! id deploy 2>/dev/null",
      );
      assert.equal(gone.code, 0, gone.stderr);
      const project = await makeProject({ hosts: [host] });

      const before = await djaploy(project, ["verify", "--env", "test"]);
      assert.equal(before.code, 1, `verify cannot work without the deploy user:\n${before.output}`);

      const first = await djaploy(project, ["bootstrap", "--env", "test"]);
      ok(first, "bootstrap");
      assert.match(first.output, /changed +deploy user +created user deploy/);
      assert.match(first.output, /changed +authorized key/);
      assert.match(first.output, /changed +sudo +passwordless sudo for deploy/);
      assert.match(first.output, /ok +log in as the deployer/);

      const again = await djaploy(project, ["bootstrap", "--env", "test"]);
      ok(again, "second bootstrap");
      assert.match(again.output, /web-1 +ok +0 steps/, "a second bootstrap changes nothing");

      ok(await djaploy(project, ["verify", "--env", "test"]), "verify as deploy");
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure as deploy");
      const sudo = await ssh(
        host,
        "deploy",
        "sudo -n -u app id -un && sudo -n id -un && sudo -n -u nobody true; echo $?",
      );
      assert.deepEqual(sudo.stdout.trim().split("\n"), ["app", "root", "1"], sudo.stderr);
      assert.match(
        sudo.stderr,
        /not allowed|may not run|password is required/,
        "sudo as other users is not granted",
      );

      const harden = await djaploy(project, [
        "bootstrap",
        "--env",
        "test",
        "--disable-root-login",
        "--disable-password-login",
      ]);
      ok(harden, "bootstrap --disable-root-login --disable-password-login");
      assert.match(harden.output, /root login and password login turned off/);

      const root = await ssh(host, "root", "true");
      assert.equal(root.code, 255, "root login is refused");
      assert.match(root.stderr, /Permission denied/);
      const password = await ssh(host, "deploy", "true", [
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
      ]);
      assert.equal(password.code, 255);
      assert.match(password.stderr, /Permission denied \(publickey\)/, "only keys are offered");

      // Root cannot log in any more; re-running as deploy (with sudo) changes nothing.
      const asRoot = await djaploy(project, ["bootstrap", "--env", "test"]);
      assert.equal(asRoot.code, 1, "root cannot log in any more");
      assert.match(
        asRoot.output,
        /Cannot log in to web-1 \(root@[0-9.]+\): permission denied \(publickey\)/,
      );
      const asDeploy = await djaploy(project, [
        "bootstrap",
        "--env",
        "test",
        "--as",
        "deploy",
        "--disable-root-login",
        "--disable-password-login",
      ]);
      ok(asDeploy, "bootstrap --as deploy");
      assert.match(asDeploy.output, /web-1 +ok +0 steps/);
      ok(await djaploy(project, ["verify", "--env", "test"]), "verify after hardening");
    });
  },
);
