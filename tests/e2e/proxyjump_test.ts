/**
 * End to end: a host reachable only through a bastion. The target's sshd
 * accepts connections from the jump host alone (a firewall rule in its
 * network namespace), and djaploy configures, deploys (ssh and rsync) and
 * runs day-2 commands through `ProxyJump`, with the host's key and
 * known_hosts for the jump as well. The target's sshd log shows every login
 * came from the jump host's address.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, httpGet, makeProject, withHosts } from "./harness.ts";
import { ok } from "./harness/expect.ts";
import { run } from "./harness/run.ts";

e2eTest("ProxyJump: configure and deploy to a host that only the jump host can reach", async () => {
  await withHosts(["jump", "web-1"], async ([jump, target]) => {
    // Only the jump host may open ssh connections to the target.
    const firewall = await run("ip", [
      ...["netns", "exec", target.nsName, "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "22"],
      ...["!", "-s", jump.ip, "-j", "REJECT", "--reject-with", "tcp-reset"],
    ]);
    assert.equal(firewall.code, 0, firewall.stderr);
    // Logins from here before the rule (the harness's boot check) are left out of the log below:
    // from the next whole second on, the journal holds only what djaploy did.
    const second = Math.ceil(Date.now() / 1000);
    await new Promise((resolve) => setTimeout(resolve, second * 1000 - Date.now() + 50));
    const since = `@${second}`;
    const direct = await target.ssh("true", { timeoutMs: 20_000 });
    assert.notEqual(direct.code, 0, "the target must not be reachable directly");
    assert.match(direct.stderr, /Connection refused/);

    const project = await makeProject({ hosts: [target] });
    await project.write(
      "infra/inventory/test.toml",
      [
        "[[hosts]]",
        'name = "web-1"',
        `ssh_hostname = "${target.ip}"`,
        `ssh_key = "${target.key}"`,
        `known_hosts_file = "${project.knownHostsFile}"`,
        `ssh_options = ["ProxyJump=deploy@${jump.ip}"]`,
        "",
      ].join("\n"),
    );
    await project.commit("Reach web-1 through the jump host");

    ok(await djaploy(project, ["configure", "--env", "test"]), "configure through the jump host");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy through the jump host");
    const page = await httpGet(`http://${target.ip}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Hello from djaploy!/);

    // Both host keys were checked and kept in the project's known_hosts, not the user's.
    for (const host of [jump, target]) {
      const known = await run("ssh-keygen", ["-F", host.ip, "-f", project.knownHostsFile]);
      assert.equal(known.code, 0, `${host.name}'s key is not in known_hosts_file`);
    }

    // Every login on the target came from the jump host; none from this machine.
    const log = await djaploy(project, [
      "exec",
      "--env",
      "test",
      "--",
      "sudo",
      "journalctl",
      "-u",
      "ssh",
      "--no-pager",
      `--since=${since}`,
      "-o",
      "cat",
    ]);
    ok(log, "exec through the jump host");
    const logins = [...log.output.matchAll(/Accepted publickey for deploy from (\S+)/g)].map((m) =>
      m[1]
    );
    assert.ok(logins.length >= 1, log.output);
    assert.deepEqual([...new Set(logins)], [jump.ip], log.output);
  });
});
