/**
 * End to end, on real servers: configure a fresh Debian 12 host and deploy
 * examples/hello to it with the in_place strategy; nginx serves it.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  hostSnapshot,
  httpGet,
  makeProject,
  type TestHost,
  withHosts,
} from "./harness.ts";
import { ok } from "./harness/expect.ts";

const ROBOTS = await Deno.readTextFile(
  new URL("../../examples/hello/infra/modules/robots.ts", import.meta.url),
);

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

e2eTest("configure and deploy in_place to a fresh server, then redeploy", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({
      hosts: [host],
      modules: ["core", "nginx", "systemd", "./infra/modules/robots.ts"],
      config: `[robots]\ndisallow = ["/private/"]`,
      files: {
        "infra/modules/robots.ts": ROBOTS,
        "infra/deploy_files/test/etc/djaploy-test/marker.txt": "from deploy_files\n",
        "pages/obsolete.txt": "this file is removed later\n",
      },
    });
    const base = `http://${host.ip}`;

    ok(await djaploy(project, ["verify", "--env", "test"]), "verify");

    const first = await djaploy(project, ["configure", "--env", "test"]);
    ok(first, "configure");
    assert.match(first.output, /installed .*nginx/);
    assert.equal(await onHost(host, "systemctl is-enabled nginx"), "enabled");

    const again = await djaploy(project, ["configure", "--env", "test", "-v"]);
    ok(again, "second configure");
    assert.doesNotMatch(again.output, /^web-1 +changed/m, "a second configure must change nothing");
    assert.match(again.output, /web-1 +ok +0 steps/);

    ok(await djaploy(project, ["deploy", "--env", "test", "-v"]), "deploy");
    const page = await httpGet(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Hello from djaploy!/);
    const css = /href="(\/static\/[^"]+\.css)"/.exec(page.body)?.[1];
    assert.ok(css, "the page links its stylesheet");
    const style = await httpGet(`${base}${css}`);
    assert.equal(style.status, 200, "nginx serves the static file");
    assert.match(style.body, /\{/);
    assert.equal((await httpGet(`${base}/health/`)).body, "ok");
    assert.match(
      (await httpGet(`${base}/robots.txt`)).body,
      /Disallow: \/private\//,
      "the custom module ran",
    );
    assert.equal(await onHost(host, "cat /etc/djaploy-test/marker.txt"), "from deploy_files");
    assert.equal(
      await onHost(host, "sudo -n stat -c '%a %U:%G' /etc/djaploy/apps/hello/env"),
      "640 root:app",
      "root's file, readable by the app user, never writable by it",
    );
    assert.equal(
      await onHost(host, "sudo -n grep -c e2e-secret-9f1c2b7a4d /etc/djaploy/apps/hello/env"),
      "1",
      "the secret reached the env file",
    );
    const table = await onHost(
      host,
      `sudo -n python3 -c "import sqlite3; print(sqlite3.connect('/home/app/data/hello.sqlite3').execute(\\"select count(*) from sqlite_master where name='pages_visit'\\").fetchone()[0])"`,
    );
    assert.equal(table, "1", "the migration created the table");

    // A code change, and a file deleted from the repository.
    await project.write("pages/message.txt", "Second release\n");
    await project.remove("pages/obsolete.txt");
    await project.commit("Second release");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "redeploy");
    assert.match((await httpGet(`${base}/`)).body, /Second release/);
    const left = await host.ssh("sudo -n test -e /home/app/apps/hello/code/pages/obsolete.txt");
    assert.notEqual(left.code, 0, "a file deleted from the repository is gone from the server");

    const same = await djaploy(project, ["deploy", "--env", "test", "-v"]);
    ok(same, "redeploy of the live commit");
    assert.match(same.output, /already live/);
    assert.doesNotMatch(same.output, /restarted/);

    // --local ships uncommitted work; --release a tag.
    await project.write("pages/message.txt", "Uncommitted work\n");
    ok(await djaploy(project, ["deploy", "--env", "test", "--local"]), "deploy --local");
    assert.match((await httpGet(`${base}/`)).body, /Uncommitted work/);
    await project.git("checkout", "--", "pages/message.txt");
    await project.git("tag", "v1.0.0", "HEAD~1");
    ok(
      await djaploy(project, ["deploy", "--env", "test", "--release", "v1.0.0"]),
      "deploy --release",
    );
    assert.match((await httpGet(`${base}/`)).body, /Hello from djaploy!/);

    const missing = await djaploy(project, ["deploy", "--env", "test", "--release", "v9.9.9"]);
    assert.equal(missing.code, 2);
    assert.match(missing.output, /Unknown tag for --release: "v9.9.9" does not exist/);
    assert.match(missing.output, /Recent tags: v1.0.0/);
  });
});

e2eTest("--dry-run shows the commands and leaves the server byte for byte unchanged", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({ hosts: [host] });
    ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
    const paths = ["/etc", "/home", "/var/www", "/opt", "/srv", "/usr/local"];
    const before = await hostSnapshot(host, paths);
    const dry = await djaploy(project, ["deploy", "--env", "test", "--dry-run"]);
    ok(dry, "deploy --dry-run");
    assert.match(dry.output, /a real run would send \d+ commands/);
    assert.match(dry.output, /rsync .*-> \/home\/app\/apps\/hello\/code\//);
    assert.match(dry.output, /systemctl restart hello/);
    assert.deepEqual(await hostSnapshot(host, paths), before, "the dry run changed the server");
    assert.notEqual((await httpGet(`http://${host.ip}/`)).status, 200, "nothing was deployed");
  });
});

e2eTest("two hosts deploy in parallel; an unreachable host fails alone", async () => {
  await withHosts(["web-1", "web-2"], async (hosts) => {
    const project = await makeProject({ hosts });
    const inventory = await Deno.readTextFile(`${project.infraDir}/inventory/test.toml`);
    // Port 1 on a live address: the connection is refused at once.
    await project.write(
      "infra/inventory/test.toml",
      `${inventory}\n[[hosts]]\nname = "web-3"\nssh_hostname = "${hosts[0].ip}"\nssh_port = 1\n`,
    );
    await project.commit("A third host that cannot be reached");

    const configure = await djaploy(project, ["configure", "--env", "test"]);
    assert.equal(configure.code, 1, configure.output);
    assert.match(configure.output, /web-3 +failed at connect/);
    assert.match(configure.output, /Cannot connect to web-3 \(deploy@[\d.]+:1\): .*refused/);
    assert.match(configure.output, /web-1 +ok/);
    assert.match(configure.output, /web-2 +ok/);

    const deploy = await djaploy(project, ["deploy", "--env", "test", "--hosts", "web-1,web-2"]);
    ok(deploy, "deploy to two hosts");
    assert.match(deploy.output, /1 conn/);
    for (const host of hosts) {
      assert.match((await httpGet(`http://${host.ip}/`)).body, /Hello from djaploy!/);
    }
  });
});

e2eTest("a changed host key is refused", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({ hosts: [host] });
    const keyDir = await Deno.makeTempDir();
    try {
      const gen = new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ed25519", "-N", "", "-f", `${keyDir}/k`],
      });
      assert.equal((await gen.output()).code, 0);
      const other = (await Deno.readTextFile(`${keyDir}/k.pub`)).split(" ").slice(0, 2).join(" ");
      await Deno.writeTextFile(project.knownHostsFile, `${host.ip} ${other}\n`);
    } finally {
      await Deno.remove(keyDir, { recursive: true });
    }
    const r = await djaploy(project, ["verify", "--env", "test"]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /Refusing to connect to web-1 .*its host key does not match/);
    assert.match(r.output, /ssh-keygen -R/);
  });
});
