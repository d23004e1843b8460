import assert from "node:assert/strict";
import { join } from "node:path";
import {
  fallbackWarning,
  rsyncArgs,
  rsyncDestination,
  rsyncRsh,
  SshExecutor,
} from "../lib/exec/ssh.ts";
import { Limiter } from "../lib/exec/limiter.ts";
import { acquireLock } from "../lib/host/deploy_lock.ts";
import { UserError } from "../lib/errors.ts";
import { render } from "../lib/shell.ts";
import type { HostConfig } from "../lib/config/types.ts";
import { loadTestProject, withTempDir } from "./helpers/fixtures.ts";

const dec = new TextDecoder();

function executor(host: HostConfig, dir: string): SshExecutor {
  return new SshExecutor(host, { controlDir: dir, socketName: "0", startLimiter: new Limiter(1) });
}

/** A stand-in for ssh that writes its arguments (NUL-separated) to `out` and fails. */
async function fakeSsh(dir: string): Promise<{ program: string; argv: () => Promise<string[]> }> {
  const program = join(dir, "fake-ssh");
  const out = join(dir, "argv");
  await Deno.writeTextFile(program, `#!/bin/sh\nprintf '%s\\0' "$@" > '${out}'\nexit 3\n`);
  await Deno.chmod(program, 0o755);
  return {
    program,
    argv: async () => (await Deno.readTextFile(out)).split("\0").slice(0, -1),
  };
}

/** The arguments rsync hands its remote shell for `-e rsh`, up to the host. */
async function rsyncShellArgv(dir: string, rsh: string, dest: string): Promise<string[]> {
  const fake = await fakeSsh(dir);
  await Deno.mkdir(join(dir, "src"), { recursive: true });
  await new Deno.Command("rsync", {
    args: ["-r", "-e", rsh.replace(/^\S+/, fake.program), `${join(dir, "src")}/`, dest],
    stdout: "null",
    stderr: "null",
  }).output();
  return await fake.argv();
}

const HOSTILE_OPTIONS = 'ssh_options = ["SetEnv=GREETING=\\"it\'s a test\\"", ' +
  '"KexAlgorithms=curve25519-sha256", "ProxyJump=admin@jump.example:2222"]\n';

Deno.test("rsync's ssh gets exactly ssh's options, quotes and spaces included", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(
      dir,
      `project_name = "hello"\nssh_key = "/keys/it's key"\nknown_hosts_file = "/k h/known"\n${HOSTILE_OPTIONS}`,
    );
    const exec = executor(host, dir);
    const sshArgv = [...exec.baseArgs(), "-o", "ControlMaster=no"];
    const seen = await rsyncShellArgv(
      dir,
      rsyncRsh(["ssh", ...sshArgv]),
      rsyncDestination(host.ssh_hostname, "/srv/x/"),
    );
    assert.deepEqual(seen.slice(0, sshArgv.length), sshArgv);
    assert.equal(seen[sshArgv.length], host.ssh_hostname);
    assert.ok(sshArgv.includes('SetEnv=GREETING="it\'s a test"'));
    // POSIX shell quoting, which rsync does not speak, mangles them (the bug this guards).
    const posix = await rsyncShellArgv(
      dir,
      render(["ssh", ...sshArgv]),
      `${host.ssh_hostname}:/srv/x/`,
    );
    assert.notDeepEqual(posix.slice(0, sshArgv.length), sshArgv);
  });
});

Deno.test("rsync: an IPv6 literal is bracketed in the destination and reaches ssh bare", async () => {
  assert.equal(rsyncDestination("2001:db8::7", "/srv/a/"), "[2001:db8::7]:/srv/a/");
  assert.equal(rsyncDestination("fe80::1%eth0", "/srv/a/"), "[fe80::1%eth0]:/srv/a/");
  assert.equal(rsyncDestination("web1.example.com", "/srv/a/"), "web1.example.com:/srv/a/");
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(
      dir,
      'project_name = "hello"\n',
      '[[hosts]]\nname = "web1"\nssh_hostname = "2001:db8::7"\n',
    );
    const exec = executor(host, dir);
    const sshArgv = [...exec.baseArgs(), "-o", "ControlMaster=no"];
    const seen = await rsyncShellArgv(
      dir,
      rsyncRsh(["ssh", ...sshArgv]),
      rsyncDestination(host.ssh_hostname, "/srv/x/"),
    );
    assert.equal(seen[sshArgv.length], "2001:db8::7");
    // Unbracketed, rsync reads "2001" as the host.
    const bare = await rsyncShellArgv(dir, rsyncRsh(["ssh", ...sshArgv]), "2001:db8::7:/srv/x/");
    assert.notEqual(bare[sshArgv.length], "2001:db8::7");
  });
});

Deno.test("ssh: ForwardAgent is always no, and ProxyJump becomes a jump with the host's key and known_hosts", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(
      dir,
      'project_name = "hello"\nssh_key = "/keys/id_test"\nknown_hosts_file = "/kh/known%hosts"\n' +
        'ssh_options = ["ProxyJump=admin@jump.example:2222"]\n',
    );
    const exec = executor(host, dir);
    const out = await new Deno.Command("ssh", {
      args: ["-G", ...exec.baseArgs(), host.ssh_hostname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const config = dec.decode(out.stdout);
    assert.match(config, /^forwardagent no$/m);
    const proxy = config.match(/^proxycommand (.*)$/m)?.[1];
    assert.ok(proxy, config);
    assert.doesNotMatch(config, /^proxyjump /m);
    // The jump: the host's key, known_hosts (its % escaped for ssh's tokens), policy and no agent.
    for (
      const part of [
        "ssh ",
        "-o BatchMode=yes",
        "-o StrictHostKeyChecking=accept-new",
        "-o ForwardAgent=no",
        "-o UserKnownHostsFile=/kh/known%%hosts",
        "-i /keys/id_test -o IdentitiesOnly=yes",
        "-o ControlPath=none",
        "-l admin -p 2222",
        "-W '[%h]:%p' jump.example",
      ]
    ) assert.ok(proxy.includes(part), `${part} not in ${proxy}`);
  });
});

Deno.test("ssh: two jump hops nest, each with the same policy", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(
      dir,
      'project_name = "hello"\nssh_options = ["ProxyJump=a.example,deploy@[2001:db8::1]:22"]\n',
    );
    const args = executor(host, dir).baseArgs();
    const proxy = args[args.indexOf("-o") + 1];
    assert.ok(proxy.startsWith("ProxyCommand=ssh -o BatchMode=yes"), proxy);
    // The outer hop expands %h once: the inner hop's tokens are escaped for it.
    assert.ok(
      proxy.endsWith(
        "-l deploy -p 22 -o 'ProxyCommand=ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new " +
          "-o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=3 " +
          "-o ForwardAgent=no -o ControlMaster=no -o ControlPath=none " +
          "-W '\\''[%%h]:%%p'\\'' a.example' -W '[%h]:%p' 2001:db8::1",
      ),
      proxy,
    );
  });
});

Deno.test("rsyncArgs: the remote shell is passed as given", () => {
  const rsh = rsyncRsh(["ssh", "-o", "SetEnv=A='b c'"]);
  assert.equal(rsh, "ssh -o 'SetEnv=A=''b c'''");
  assert.deepEqual(rsyncArgs({ source: "/a", dest: "/b" }, rsh).slice(3, 5), ["-e", rsh]);
});

/** A host reached through a jump host that refuses the connection (127.0.0.1:1). */
async function behindRefusingJump(dir: string): Promise<HostConfig> {
  const { host } = await loadTestProject(
    dir,
    'project_name = "hello"\nknown_hosts_file = "known_hosts"\n' +
      'ssh_options = ["ProxyJump=deploy@127.0.0.1:1"]\n',
  );
  return host;
}

Deno.test("ssh: a jump host that does not answer is named in the error's hint", async () => {
  await withTempDir(async (dir) => {
    const host = await behindRefusingJump(dir);
    const exec = executor(host, dir);
    try {
      await assert.rejects(() => exec.connect(), (e: UserError) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /^Cannot connect to web1 \(deploy@10\.0\.0\.1\)/);
        assert.match(e.hint ?? "", /goes through the jump host deploy@127\.0\.0\.1:1/);
        return true;
      });
    } finally {
      await exec.close();
    }
  });
});

/** Runs `fn` with PATH holding only `bin` and setsid(1), which djaploy starts ssh through. */
async function withPath(bin: string, fn: () => Promise<void>): Promise<void> {
  const setsid = await new Deno.Command("sh", { args: ["-c", "command -v setsid"] }).output();
  await Deno.symlink(dec.decode(setsid.stdout).trim(), join(bin, "setsid"));
  const path = Deno.env.get("PATH")!;
  Deno.env.set("PATH", bin);
  try {
    await fn();
  } finally {
    Deno.env.set("PATH", path);
  }
}

/** A test project's host, and a folder of stand-in programs (name: the shell script's body). */
async function standIns(
  dir: string,
  scripts: Record<string, string>,
): Promise<{ host: HostConfig; bin: string }> {
  const { host } = await loadTestProject(dir, 'project_name = "hello"\n');
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  for (const [name, body] of Object.entries(scripts)) {
    await Deno.writeTextFile(join(bin, name), `#!/bin/sh\n${body}`);
    await Deno.chmod(join(bin, name), 0o755);
  }
  return { host, bin };
}

const OWNER = { holder: "ops@laptop", command: "deploy", since: new Date().toISOString() };

Deno.test("ssh: the deploy lock's shell opens the connection itself (one ssh, the connection's master while it runs); a login that fails is a connection failure, for connect() too", async () => {
  await withTempDir(async (dir) => {
    // The real ssh, through a jump host that refuses the connection.
    const host = await behindRefusingJump(dir);
    // Each ssh started (djaploy's, and the jump's from its ProxyCommand) leaves its arguments
    // in a file of its own, then runs the real ssh.
    const real = await new Deno.Command("sh", { args: ["-c", "command -v ssh"] }).output();
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      join(bin, "ssh"),
      `#!/bin/sh\nprintf '%s\\0' "$@" > '${dir}/argv.'$$\nexec '${
        dec.decode(real.stdout).trim()
      }' "$@"\n`,
    );
    await Deno.chmod(join(bin, "ssh"), 0o755);
    const exec = executor(host, dir);
    const cannotConnect = (e: UserError) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^Cannot connect to web1 \(deploy@10\.0\.0\.1\)/);
      return true;
    };
    await withPath(bin, async () => {
      try {
        const taking = acquireLock(exec, "hello", OWNER, 0);
        // The shared start: connect() waits for the lock's shell's login and fails with it.
        await assert.rejects(() => exec.connect(), cannotConnect);
        await assert.rejects(() => taking, cannotConnect);
      } finally {
        await exec.close();
      }
    });
    assert.equal(exec.stats.connections, 1);
    const started: string[][] = [];
    for await (const e of Deno.readDir(dir)) {
      if (!e.name.startsWith("argv.")) continue;
      const argv = (await Deno.readTextFile(join(dir, e.name))).split("\0").slice(0, -1);
      if (!argv.includes("-W")) started.push(argv); // the jump's ssh runs with -W
    }
    assert.equal(started.length, 1, "one ssh for the host (besides the jump's)");
    const [argv] = started;
    assert.ok(argv.includes("ControlMaster=yes"), `${argv}`);
    // No ControlPersist: ssh stays in the foreground as the master, and ends with the shell.
    assert.ok(!argv.some((a) => /^ControlPersist/.test(a)), `${argv}`);
    assert.ok(!argv.includes("-N") && !argv.includes("-M"), "no master of its own");
    assert.match(
      argv.at(-1)!,
      /^exec 2>&1; sudo -n .*\/run\/djaploy\/hello\.lock/s,
      "it runs the lock's shell, its stderr on its stdout (ssh has no stderr pipe)",
    );
  });
});

Deno.test("ssh: once the deploy lock's shell ended, close() has nothing to close (its ssh was the master): no ssh -O exit, no mux request", async () => {
  await withTempDir(async (dir) => {
    // A stand-in for ssh: records its arguments, answers as lock.bash does, ends at EOF.
    const { host, bin } = await standIns(dir, {
      ssh: `printf '%s\\0' "$@" > '${dir}/argv.'$$\necho LOCKED\ncat >/dev/null\n`,
    });
    const exec = executor(host, dir);
    const started = async () => {
      const argvs: string[][] = [];
      for await (const e of Deno.readDir(dir)) {
        if (!e.name.startsWith("argv.")) continue;
        argvs.push((await Deno.readTextFile(join(dir, e.name))).split("\0").slice(0, -1));
      }
      return argvs;
    };
    await withPath(bin, async () => {
      const lock = await acquireLock(exec, "hello", OWNER, 0);
      await exec.connect(); // shares the lock shell's login
      await lock.release();
      // A socket where the master's was: close() would ask it to exit if it thought it open.
      const listener = Deno.listen({ transport: "unix", path: join(dir, "0") });
      let asked = false;
      listener.accept().then((c) => {
        asked = true;
        c.close();
      }, () => undefined);
      await exec.close();
      await new Promise((r) => setTimeout(r, 50));
      listener.close();
      assert.equal(asked, false, "close() sent the socket nothing");
    });
    const argvs = await started();
    assert.equal(argvs.length, 1, `one ssh, the lock's shell: ${JSON.stringify(argvs)}`);
    assert.equal(exec.stats.connections, 1);
  });
});

Deno.test("ssh: without an ssh program, the deploy lock's shell says to install OpenSSH's client", async () => {
  await withTempDir(async (dir) => {
    const { host, bin } = await standIns(dir, {});
    const exec = executor(host, dir);
    await withPath(bin, async () => {
      try {
        await assert.rejects(() => acquireLock(exec, "hello", OWNER, 0), (e: UserError) => {
          assert.ok(e instanceof UserError);
          assert.equal(e.message, "Install OpenSSH's client: the ssh program is not on PATH");
          return true;
        });
      } finally {
        await exec.close();
      }
    });
  });
});

/**
 * Runs `fn` with a stand-in ssh that runs the remote command line here, as the login shell would,
 * and a stand-in sudo (the shell script's body).
 */
async function withSudoHere(
  sudo: string,
  fn: (exec: SshExecutor) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const { host, bin } = await standIns(dir, {
      ssh: 'for last; do :; done\nexec /bin/sh -c "$last"\n',
      sudo,
    });
    const exec = executor(host, dir);
    await withPath(bin, async () => {
      try {
        await fn(exec);
      } finally {
        await exec.close();
      }
    });
  });
}

Deno.test("ssh: what the deploy lock's command says before it holds the lock (sudo's refusal) is in the error, though its ssh has no stderr pipe", async () => {
  await withSudoHere("echo 'sudo: a password is required' >&2\nexit 1\n", async (exec) => {
    await assert.rejects(() => acquireLock(exec, "hello", OWNER, 0), (e: UserError) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /the lock command failed \(exit code 1\): sudo: a password is required$/,
      );
      return true;
    });
  });
});

Deno.test("ssh: what sudo says on its way to the deploy lock's shell (unable to resolve host) does not stop the lock", async () => {
  // sudo warns on its stderr, which comes on ssh's stdout, before the lock's shell's first line.
  const sudo = "echo 'sudo: unable to resolve host web1: Name or service not known' >&2\n" +
    "echo LOCKED\ncat >/dev/null\n";
  await withSudoHere(sudo, async (exec) => {
    const lock = await acquireLock(exec, "hello", OWNER, 0);
    assert.equal(lock.running, true);
    await lock.release();
  });
});

Deno.test("fallbackWarning: only a session sshd refused points at MaxSessions; a broken connection says what ssh said", () => {
  assert.equal(fallbackWarning("web-1", "Warning: Permanently added 'x' to the list\n"), undefined);
  assert.match(
    fallbackWarning(
      "web-1",
      "mux_client_request_session: session request failed: Session open refused by peer\n",
    )!,
    /^web-1: sshd refused a session .*MaxSessions/,
  );
  const broken = fallbackWarning(
    "web-1",
    "mux_client_request_session: read from master failed: Broken pipe\n",
  )!;
  assert.doesNotMatch(broken, /MaxSessions/);
  assert.match(broken, /^web-1: the shared SSH connection broke, so ssh logged in again/);
  assert.match(broken, /read from master failed: Broken pipe/);
});
