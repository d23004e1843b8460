import assert from "node:assert/strict";
import { join } from "node:path";
import {
  authorizedKeysProbe,
  bootstrapSteps,
  keyId,
  SSHD_DROP_IN,
  sudoersPath,
} from "../../lib/commands/bootstrap.ts";
import { userProbe } from "../../lib/host/probes.ts";
import { runOnHosts } from "../../lib/engine/runner.ts";
import { RecordingExecutor, type Responder } from "../../lib/exec/recording_executor.ts";
import { sha256 } from "../../lib/host/remote_ops.ts";
import { sshdHardening, sudoersRule } from "../../templates/bootstrap.ts";
import { main } from "../../cli.ts";
import {
  collectingUi,
  factsAnswer,
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  type ProbeAnswer,
  sh,
  withTempDir,
} from "../helpers/fixtures.ts";
import { project } from "./helpers.ts";

const KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0testkeytestkeytestkeytestkeytestkeytestke alice@laptop";

Deno.test("bootstrap templates: sudo as root and the app's users only; sshd drop-in", () => {
  assert.equal(
    sudoersRule("deploy", ["app", "app", "root"]),
    "# Written by djaploy bootstrap: deploy deploys with djaploy, which runs commands\n" +
      "# as root and as the app's user through sudo -n (no password, no terminal).\n" +
      "Defaults:deploy !requiretty\n" +
      "deploy ALL=(root, app) NOPASSWD: ALL\n",
  );
  assert.equal(
    sshdHardening({ rootLogin: false, passwordLogin: false }),
    "# Written by djaploy bootstrap.\nPermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
  );
  assert.equal(
    sshdHardening({ rootLogin: true, passwordLogin: false }),
    "# Written by djaploy bootstrap.\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
  );
  assert.equal(keyId(`${KEY}\n`), KEY.split(" ").slice(0, 2).join(" "));
  assert.equal(keyId("# a comment"), undefined);
  assert.equal(authorizedKeysProbe("deploy").parse(`garbage\n${KEY}\n`, 0).length, 1);
});

Deno.test("bootstrap sudoers: visudo accepts the rule", async () => {
  const visudo = await sh("command -v visudo || command -v /usr/sbin/visudo");
  if (visudo.code !== 0) return; // no sudo here: the e2e test proves it on a server
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "rule"), sudoersRule("deploy", ["app"]));
    const r = await sh(`${visudo.stdout.trim()} -cqf "$1"`, [join(dir, "rule")]);
    assert.equal(r.code, 0, r.stderr);
  });
});

async function runSteps(
  loaded: LoadedProject,
  facts: Record<string, ProbeAnswer>,
  flags: { disableRoot: boolean; disablePassword: boolean },
  deployerFails = false,
) {
  const { ui, out } = collectingUi();
  let exec: RecordingExecutor | undefined;
  const deployer = new RecordingExecutor({
    host: "web1",
    sshUser: "deploy",
    respond: () =>
      deployerFails ? { code: 255, stderr: "Permission denied (publickey)." } : undefined,
  });
  const stdout = factsStdout(facts);
  const respond: Responder = (cmd) => isFactsCommand(cmd) ? factsAnswer(cmd, stdout) : undefined;
  const [result] = await runOnHosts({
    ui,
    project: loaded.project,
    env: loaded.env,
    hosts: [loaded.host],
    parallel: 1,
    dryRun: false,
    signal: new AbortController().signal,
    executor: (h) => exec = new RecordingExecutor({ host: h.name, sshUser: "root", respond }),
    plan: (h) => ({
      steps: bootstrapSteps({
        publicKey: () => Promise.resolve(KEY),
        appUsers: ["app"],
        ...flags,
        asDeployer: () => deployer,
      }),
      probes: [userProbe(h.ssh_user), authorizedKeysProbe(h.ssh_user)],
      files: [sudoersPath(h.ssh_user), SSHD_DROP_IN],
      packages: [],
    }),
    appEnv: () => new Map(),
    deployFiles: new Set(),
  });
  return { result, lines: exec!.lines(), deployer: deployer.lines(), out: out.join("") };
}

Deno.test("bootstrap: a fresh server gets the user, the key, the sudo rule (checked by visudo); the deployer logs in; then sshd", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, 'project_name = "hello"\n');
    const r = await runSteps(loaded, {}, { disableRoot: true, disablePassword: true });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.lines.slice(1), [
      "useradd --create-home --shell /bin/bash deploy",
      "sh -c 'set -e…' sh deploy < [stdin]",
      "sh -c 'set -e…' sh /etc/sudoers.d/djaploy-deploy < [stdin]",
      "sh -c 'set -e…' sh /etc/ssh/sshd_config.d/10-djaploy.conf < [stdin]",
    ]);
    assert.deepEqual(
      r.deployer,
      ["sudo -n -H -- true"],
      "the new user proved it can log in and sudo",
    );
    assert.match(r.out, /root login and password login turned off/);
  });
});

Deno.test("bootstrap: a second run changes nothing; root login stays while the deployer cannot log in", async () => {
  await withTempDir(async (dir) => {
    const loaded = await project(dir, 'project_name = "hello"\n');
    const done = await runSteps(loaded, {
      "user:deploy": { out: "deploy:x:1000:1000::/home/deploy:/bin/bash" },
      "authorized-keys:deploy": { out: `${KEY}\n` },
      "file-hashes": {
        out: `${sha256(sudoersRule("deploy", ["app"]))}  /etc/sudoers.d/djaploy-deploy\n` +
          `${sha256(sshdHardening({ rootLogin: false, passwordLogin: false }))}  ${SSHD_DROP_IN}\n`,
      },
    }, { disableRoot: true, disablePassword: true });
    assert.equal(done.result.ok, true, String(done.result.error));
    assert.equal(done.lines.length, 1, done.lines.join("\n"));

    const locked = await runSteps(loaded, {}, { disableRoot: true, disablePassword: false }, true);
    assert.equal(locked.result.ok, false);
    assert.equal(locked.result.failedStep, "log in as the deployer");
    assert.match(
      String(locked.result.error),
      /Logins were left as they are: deploy could not log in/,
    );
    assert.ok(!locked.lines.some((l) => l.includes("sshd_config")), "sshd was not touched");
  });
});

Deno.test("djaploy bootstrap: a missing public key is a usage error before any login", async () => {
  await withTempDir(async (dir) => {
    await project(dir, 'project_name = "hello"\n', {
      inventory:
        `[[hosts]]\nname = "web1"\nssh_hostname = "10.255.255.1"\nssh_key = "${dir}/nokey"\n`,
    });
    const err: string[] = [];
    const code = await main([
      "bootstrap",
      "--config",
      join(dir, "infra", "djaploy.toml"),
      "--env",
      "test",
    ], {
      write: () => {},
      writeErr: (t) => err.push(t),
      isTerminal: false,
    });
    assert.equal(code, 2, err.join(""));
    assert.match(err.join(""), /Cannot read the public key .*nokey\.pub/);
  });
});
