import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "smol-toml";
import { run } from "./harness/run.ts";
import {
  djaploy,
  e2eTest,
  hostSnapshot,
  httpGet,
  makeProject,
  TEST_SECRET,
  type TestHost,
  withHosts,
} from "./harness.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/**
 * The cgroups of the processes in a host's network namespace, in the hierarchies systemd uses
 * (name=systemd, and the unified one: "N:name=systemd:PATH", "0::PATH" in /proc/PID/cgroup).
 */
async function cgroupPaths(nsName: string): Promise<string[]> {
  // Read with cat: Deno reads another process's /proc files only with --allow-all. A process that
  // ended since has no file left to read.
  const r = await run("bash", [
    "-c",
    `for p in $(ip netns pids ${nsName}); do cat /proc/$p/cgroup 2>/dev/null; done`,
  ]);
  return [...r.stdout.matchAll(/^\d+:(?:name=systemd)?:(.*)$/gm)].map((m) => m[1]);
}

e2eTest("harness: boots two hosts, reaches them over ssh, makes a clean project", async () => {
  let booted: TestHost[] = [];
  let projectRoot = "";
  await withHosts(["web-1", "web-2"], async (hosts) => {
    booted = hosts;
    assert.deepEqual(hosts.map((h) => h.name), ["web-1", "web-2"]);
    assert.notEqual(hosts[0].ip, hosts[1].ip);
    assert.notEqual(hosts[0].nsName, hosts[1].nsName);

    await Promise.all(hosts.map(async (host) => {
      // "degraded" (a unit of the container's own boot failed, e.g. under load) still boots a
      // usable server; the failed units are in the message if it is neither.
      const state = await host.ssh(
        "systemctl is-system-running --wait; systemctl --failed --no-legend",
      );
      assert.match(
        state.stdout,
        /^(running|degraded)\n/,
        `${host.name}: ${state.stdout}${state.stderr}`,
      );
      const who = await host.ssh("id -un && sudo -n id -un");
      assert.equal(who.code, 0, who.stderr);
      assert.deepEqual(who.stdout.trim().split("\n"), ["deploy", "root"]);
      // Each host is its own machine: the address it answers on is its own.
      const addr = await host.ssh("ip -o -4 addr show dev host0");
      assert.match(addr.stdout, new RegExp(` ${host.ip.replaceAll(".", "\\.")}/30 `));
      // ... and its processes are in cgroups of its own (scripts/testhosts.sh boot): in shared
      // ones, one host's systemd removing a unit's empty cgroup failed another's start of it.
      const paths = await cgroupPaths(host.nsName);
      assert.ok(paths.length > 0, `${host.nsName}: no cgroup read`);
      for (const path of paths) {
        assert.ok(path.startsWith(`/djaploy-testhosts/${host.nsName}/`), `${host.nsName}: ${path}`);
      }
    }));
    const failing = await hosts[0].ssh("echo out; echo err >&2; exit 3");
    assert.deepEqual(failing, { code: 3, stdout: "out\n", stderr: "err\n" });

    const project = await makeProject({ hosts, config: "[nginx]\nserver_names = []" });
    projectRoot = project.root;
    const status = await project.git("status", "--porcelain", "--untracked-files=all");
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout, "", "the work tree is clean");
    assert.equal((await project.git("branch", "--show-current")).stdout.trim(), "main");
    assert.equal((await project.git("rev-list", "--count", "HEAD")).stdout.trim(), "1");
    const tracked = (await project.git("ls-files")).stdout.trim().split("\n");
    for (const file of ["manage.py", "pages/message.txt", "hello/settings.py"]) {
      assert.ok(tracked.includes(file), `${file} is committed`);
    }
    assert.ok(!tracked.some((f) => f.includes("__pycache__")), "no __pycache__ is copied");
    assert.deepEqual(tracked.filter((f) => f.startsWith("infra/")), [
      "infra/djaploy.toml",
      "infra/inventory/test.toml",
    ]);

    const config = parse(await Deno.readTextFile(join(project.infraDir, "djaploy.toml")));
    assert.equal(config.project_name, "hello");
    assert.equal(config.deployment_strategy, "in_place");
    assert.deepEqual(config.modules, ["core", "nginx", "systemd"]);
    assert.deepEqual(config.nginx, { server_names: [] });
    assert.deepEqual((config.env as Record<string, string>).SECRET_KEY, "env:HELLO_SECRET_KEY");
    const inventory = parse(
      await Deno.readTextFile(join(project.infraDir, "inventory/test.toml")),
    ) as { hosts: Record<string, string>[] };
    assert.deepEqual(inventory.hosts.map((h) => [h.name, h.ssh_hostname]), [
      ["web-1", hosts[0].ip],
      ["web-2", hosts[1].ip],
    ]);
    for (const host of inventory.hosts) {
      assert.ok(await exists(host.ssh_key), `the key ${host.ssh_key} exists`);
      assert.equal(host.known_hosts_file, project.knownHostsFile);
    }
    assert.ok(!project.knownHostsFile.startsWith(project.dir + "/"), "known_hosts is not in git");

    await project.write("pages/message.txt", "Changed!");
    const sha = await project.commit("change");
    assert.match(sha, /^[0-9a-f]{40}$/);
    assert.equal((await project.git("status", "--porcelain")).stdout, "");

    // A snapshot is stable while nothing changes, and sees a change of content or mode.
    const paths = ["/etc", "/home", "/opt", "/srv", "/usr/local", "/var/www"];
    const before = await hostSnapshot(hosts[0], paths);
    assert.ok(before.some((line) => /^\/etc\/hostname f \d+ root:root [0-9a-f]{64}$/.test(line)));
    assert.ok(before.some((line) => line.startsWith("/etc/mtab l 777 root:root -> ")));
    assert.deepEqual(await hostSnapshot(hosts[0], paths), before);
    await hosts[0].ssh("echo x > /home/deploy/probe && chmod 600 /home/deploy/probe");
    const after = await hostSnapshot(hosts[0], paths);
    const added = after.filter((line) => !before.includes(line));
    assert.deepEqual(added.map((l) => l.split(" ").slice(0, 4).join(" ")), [
      "/home/deploy/probe f 600 deploy:deploy",
    ]);
  });

  // Torn down: namespaces, veths, cgroups and the project dir are gone. A cgroup is removed only
  // once no process is left in it: the container did not outlive its systemd-nspawn.
  for (const host of booted) {
    assert.ok(!(await exists(`/run/netns/${host.nsName}`)), `${host.nsName} is removed`);
    assert.ok(!(await exists(`/sys/class/net/v${host.nsName}`)), `v${host.nsName} is removed`);
    for (const root of ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]) {
      const cgroup = `${root}/djaploy-testhosts/${host.nsName}`;
      assert.ok(!(await exists(cgroup)), `${cgroup} is removed`);
    }
  }
  assert.ok(!(await exists(projectRoot)), "the project dir is removed with its hosts");
});

Deno.test("harness: djaploy runs the program in the project with the test env", async () => {
  await using project = await makeProject({
    hosts: [{ name: "web-1", ip: "10.231.250.2", key: "/nonexistent/id_ed25519" }],
    strategy: "bluegreen",
  });
  const config = await Deno.readTextFile(join(project.infraDir, "djaploy.toml"));
  assert.match(config, /^deployment_strategy = "bluegreen"$/m);
  const fake = join(project.root, "fake_cli.ts");
  await Deno.writeTextFile(
    fake,
    `const input = await new Response(Deno.stdin.readable).text();
     console.log(JSON.stringify({ args: Deno.args, cwd: Deno.cwd(), input,
       secret: Deno.env.get("HELLO_SECRET_KEY"), noColor: Deno.env.get("NO_COLOR"),
       extra: Deno.env.get("EXTRA") }));
     console.error("to stderr");
     Deno.exit(3);`,
  );
  const previous = Deno.env.get("DJAPLOY_E2E_BIN");
  Deno.env.set("DJAPLOY_E2E_BIN", fake);
  try {
    const r = await djaploy(project, ["deploy", "--env", "test"], {
      env: { EXTRA: "1" },
      stdin: "yes\n",
    });
    assert.equal(r.code, 3, r.output);
    assert.deepEqual(JSON.parse(r.stdout), {
      args: ["deploy", "--env", "test"],
      cwd: project.dir,
      input: "yes\n",
      secret: TEST_SECRET,
      noColor: "1",
      extra: "1",
    });
    assert.equal(r.stderr, "to stderr\n");
    assert.ok(r.output.includes(r.stdout) && r.output.includes("to stderr"));
    assert.ok(r.ms > 0);
  } finally {
    if (previous === undefined) Deno.env.delete("DJAPLOY_E2E_BIN");
    else Deno.env.set("DJAPLOY_E2E_BIN", previous);
  }
});

Deno.test("harness: httpGet sends the Host header and only targets test addresses", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      new Response(`host=${request.headers.get("host")}`, {
        status: 301,
        headers: { location: "https://example.test/", "x-test": "1" },
      }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const r = await httpGet(url, { host: "example.test" });
    assert.equal(r.status, 301, "redirects are not followed");
    assert.equal(r.body, "host=example.test");
    assert.equal(r.headers["x-test"], "1");
    assert.equal((await httpGet(url)).body, `host=127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
  await assert.rejects(httpGet("http://example.com/"), /only to test hosts/);
});
