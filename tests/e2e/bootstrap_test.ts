/**
 * End to end, bootstrap: a server that only has root with a key (the test
 * image's `deploy` user is removed first) gets `deploy` with the deployer's
 * key and passwordless sudo; `djaploy verify` then works as deploy; with
 * --disable-root-login and --disable-password-login, root and passwords are
 * refused. Runs again without changing anything. sshd answers as soon as a
 * change of its settings returns (it listens anew after a reload), and a link
 * the app user planted in /tmp leads root to write nothing.
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
import { PUT_SSHD_SH } from "../../lib/commands/programs.gen.ts";
import { quote } from "../../lib/shell.ts";

const PROBE = "/etc/ssh/sshd_config.d/99-djaploy-test.conf";

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

      // sshd re-executes itself on a reload and opens its sockets anew: the program that puts
      // the drop-in returns only once sshd listens again, so a login right after it is answered
      // (before, such a connection was refused: "Connection refused").
      for (let round = 1; round <= 6; round++) {
        // A connection from the host itself, as soon as the program returns.
        const put = await ssh(
          host,
          "root",
          `printf '# round ${round}\\n' | sh -c ${quote(PUT_SSHD_SH)} sh ${PROBE} && ` +
            `bash -c 'exec 3<>/dev/tcp/127.0.0.1/22 && head -c 4 <&3'`,
        );
        assert.equal(put.code, 0, `round ${round}: put the drop-in, connect: ${put.stderr}`);
        assert.equal(put.stdout, "SSH-", `round ${round}: sshd answers right after the reload`);
        const after = await ssh(host, "root", `cat ${PROBE}`);
        assert.equal(
          after.code,
          0,
          `round ${round}: log in right after the reload: ${after.stderr}`,
        );
        assert.equal(after.stdout, `# round ${round}\n`);
      }
      assert.equal((await ssh(host, "root", `rm -f ${PROBE}`)).code, 0);

      // The app user (where a web app's RCE lands) plants a link where bootstrap once wrote
      // sshd -t's output as root; this machine's kernel does not refuse to follow it
      // (fs.protected_symlinks may be 0), so root would have overwritten the link's target.
      const plant = await ssh(
        host,
        "root",
        "echo keep > /root/canary && sudo -u app ln -sfn /root/canary /tmp/djaploy-sshd-t",
      );
      assert.equal(plant.code, 0, plant.stderr);

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
      const kept = await ssh(host, "deploy", "sudo -n cat /root/canary");
      assert.equal(kept.stdout, "keep\n", "root wrote nothing through the app user's link");
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
      const asDeployer = (...flags: string[]) =>
        djaploy(project, ["bootstrap", "--env", "test", "--as", "deploy", ...flags]);
      const asDeploy = await asDeployer("--disable-root-login", "--disable-password-login");
      ok(asDeploy, "bootstrap --as deploy");
      assert.match(asDeploy.output, /web-1 +ok +0 steps/);
      ok(await djaploy(project, ["verify", "--env", "test"]), "verify after hardening");

      // Each bootstrap here changes the drop-in, and a login right after it sees the change.
      for (let round = 1; round <= 2; round++) {
        ok(
          await asDeployer("--disable-password-login"),
          `round ${round}: bootstrap --disable-password-login`,
        );
        const rootAgain = await ssh(host, "root", "true");
        assert.equal(rootAgain.code, 0, `round ${round}: root logs in again: ${rootAgain.stderr}`);
        ok(
          await asDeployer("--disable-root-login", "--disable-password-login"),
          `round ${round}: bootstrap --disable-root-login --disable-password-login`,
        );
        const refused = await ssh(host, "root", "true");
        assert.match(refused.stderr, /Permission denied/, `round ${round}: root is refused`);
      }
    });
  },
);
