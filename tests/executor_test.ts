import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkResult,
  displayCommand,
  parseBytesSent,
  parseItemized,
} from "../lib/exec/executor.ts";
import { rsyncArgs, SshExecutor } from "../lib/exec/ssh.ts";
import { Limiter } from "../lib/exec/limiter.ts";
import { CommandError } from "../lib/errors.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { loadTestProject, withTempDir, writeFiles } from "./helpers/fixtures.ts";

async function rsync(args: readonly string[]): Promise<string> {
  const out = await new Deno.Command("rsync", { args: [...args], stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return dec.decode(out.stdout);
}

/** src/ and dst/ that differ in every way a deploy meets. */
async function prepare(dir: string): Promise<{ src: string; dst: string }> {
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  await writeFiles(src, {
    "new.txt": "new\n",
    "changed.txt": "version 2\n",
    "grown.txt": "now longer than before\n",
    "same.txt": "same\n",
    "with space.txt": "x\n",
    "newdir/inner.txt": "inner\n",
    "keptdir/kept.txt": "kept\n",
  });
  await writeFiles(dst, {
    "changed.txt": "version 1\n",
    "grown.txt": "short\n",
    "same.txt": "same\n",
    "gone.txt": "gone\n",
    "olddir/old.txt": "old\n",
    "keptdir/kept.txt": "kept\n",
    "__pycache__/mod.pyc": "bytecode",
  });
  await Deno.symlink("same.txt", join(src, "link"));
  // Same content, different time: -c must not count it as changed.
  await Deno.utime(join(dst, "same.txt"), new Date(2020, 0, 1), new Date(2020, 0, 1));
  return { src, dst };
}

Deno.test("parseItemized: the changed paths of a real rsync --itemize-changes --delete", async () => {
  await withTempDir(async (dir) => {
    const { src, dst } = await prepare(dir);
    const out = await rsync(["-rlc", "--itemize-changes", "--delete", `${src}/`, `${dst}/`]);
    assert.deepEqual(
      parseItemized(out).sort(),
      [
        "__pycache__/",
        "__pycache__/mod.pyc",
        "changed.txt",
        "gone.txt",
        "grown.txt",
        "link",
        "new.txt",
        "newdir/",
        "newdir/inner.txt",
        "olddir/",
        "olddir/old.txt",
        "with space.txt",
      ],
    );
    // A second run finds nothing to do.
    const again = await rsync(["-rlc", "--itemize-changes", "--delete", `${src}/`, `${dst}/`]);
    assert.deepEqual(parseItemized(again), []);
  });
});

Deno.test("parseItemized: a symlink whose target changed is reported without its target", async () => {
  await withTempDir(async (dir) => {
    const { src, dst } = await prepare(dir);
    await rsync(["-rlc", "--itemize-changes", "--delete", `${src}/`, `${dst}/`]);
    await Deno.remove(join(src, "link"));
    await Deno.symlink("new.txt", join(src, "link"));
    const out = await rsync(["-rlc", "--itemize-changes", "--delete", `${src}/`, `${dst}/`]);
    assert.deepEqual(parseItemized(out), ["link"]);
  });
});

Deno.test("parseItemized: attribute-only changes and rsync's other lines are not changes", () => {
  const out = [
    "created directory /srv/app/code",
    "cd+++++++++ ./",
    ".d..t...... ./",
    ".d..t...... static/",
    ".f..t...... same-content.txt",
    ".f...p..... mode-only.txt",
    ">f.st...... edited.py",
    "cd+++++++++ new dir/",
    "cL+++++++++ current -> releases/2",
    "*deleting   old.py",
    "",
    "sent 1,234 bytes  received 56 bytes",
  ].join("\n");
  assert.deepEqual(parseItemized(out), ["edited.py", "new dir/", "current", "old.py"]);
});

const RSH = "ssh -o BatchMode=yes";

Deno.test("rsyncArgs: the defaults compare contents and normalize permissions", () => {
  assert.deepEqual(rsyncArgs({ source: "/a", dest: "/b" }, RSH), [
    "-rlc",
    "--itemize-changes",
    "--stats",
    "-e",
    RSH,
    "--chmod=ugo=rwX,go-w",
  ]);
});

Deno.test("rsyncArgs: delete, link-dest and filters", () => {
  assert.deepEqual(
    rsyncArgs(
      {
        source: "/a",
        dest: "/b",
        delete: true,
        linkDest: "/srv/app/releases/1",
        filters: ["P __pycache__/", "P .venv"],
      },
      RSH,
    ),
    [
      "-rlc",
      "--itemize-changes",
      "--stats",
      "-e",
      RSH,
      "--chmod=ugo=rwX,go-w",
      "--delete",
      "--link-dest=/srv/app/releases/1",
      "--filter=P __pycache__/",
      "--filter=P .venv",
    ],
  );
});

Deno.test("rsyncArgs: as root or as a user, the remote rsync runs through sudo -n", () => {
  assert.deepEqual(rsyncArgs({ source: "/a", dest: "/", as: "root" }, RSH).slice(6), [
    "--rsync-path=sudo -n rsync",
  ]);
  assert.deepEqual(rsyncArgs({ source: "/a", dest: "/b", as: "app" }, RSH).slice(6), [
    "--rsync-path=sudo -n -u app rsync",
  ]);
});

Deno.test("rsyncArgs: keepServerModes leaves modes alone (no --chmod, no -p)", () => {
  const args = rsyncArgs({ source: "/a", dest: "/", keepServerModes: true }, RSH);
  assert.deepEqual(args, ["-rlc", "--itemize-changes", "--stats", "-e", RSH]);
});

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

Deno.test("rsyncArgs: run with a local rsync, filters protect paths from --delete and modes come out as intended", async () => {
  await withTempDir(async (dir) => {
    const { src, dst } = await prepare(dir);
    await Deno.chmod(join(src, "new.txt"), 0o600);
    await Deno.chmod(join(src, "newdir/inner.txt"), 0o700);
    const args = rsyncArgs(
      { source: src, dest: dst, delete: true, filters: ["P __pycache__/"] },
      RSH,
    );
    const out = await rsync([...args, `${src}/`, `${dst}/`]);
    const changed = parseItemized(out);
    assert.ok(!changed.some((p) => p.startsWith("__pycache__")), changed.join(", "));
    assert.equal(await Deno.readTextFile(join(dst, "__pycache__/mod.pyc")), "bytecode");
    await assert.rejects(() => Deno.stat(join(dst, "gone.txt")), Deno.errors.NotFound);
    // By default, files are readable by all and writable only by the owner.
    assert.equal(await mode(join(dst, "new.txt")), 0o644);
    assert.equal(await mode(join(dst, "newdir/inner.txt")), 0o755);
  });
});

Deno.test("rsyncArgs: run with a local rsync, keepServerModes keeps the modes of what exists and the source's for new files", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    await writeFiles(src, { "etc/app.conf": "new\n", "etc/private.key": "key\n" });
    await writeFiles(dst, { "etc/app.conf": "old\n" });
    await Deno.chmod(join(src, "etc"), 0o700);
    await Deno.chmod(join(src, "etc/app.conf"), 0o600);
    await Deno.chmod(join(src, "etc/private.key"), 0o600);
    await Deno.chmod(src, 0o700);
    await Deno.chmod(join(dst, "etc"), 0o755);
    await Deno.chmod(join(dst, "etc/app.conf"), 0o644);
    await Deno.chmod(dst, 0o755);
    const args = rsyncArgs({ source: src, dest: dst, keepServerModes: true }, RSH);
    const changed = parseItemized(await rsync([...args, `${src}/`, `${dst}/`]));
    assert.deepEqual(changed.sort(), ["etc/app.conf", "etc/private.key"]);
    assert.equal(await Deno.readTextFile(join(dst, "etc/app.conf")), "new\n");
    // What was there keeps its mode: the local folders' 0700 is not applied.
    assert.equal(await mode(dst), 0o755);
    assert.equal(await mode(join(dst, "etc")), 0o755);
    assert.equal(await mode(join(dst, "etc/app.conf")), 0o644);
    // A new file keeps the source's private mode.
    assert.equal(await mode(join(dst, "etc/private.key")), 0o600);
  });
});

Deno.test("checkResult: exit codes outside okCodes throw a CommandError naming host, command and stderr", () => {
  const cmd = { argv: ["systemctl", "restart", "hello"], as: "root" };
  const ok = { code: 0, stdout: "", stderr: "", ms: 1 };
  assert.equal(checkResult("web1", "deploy", cmd, ok), ok);
  assert.equal(
    checkResult("web1", "deploy", { ...cmd, okCodes: [0, 1] }, { ...ok, code: 1 }).code,
    1,
  );
  assert.throws(
    () =>
      checkResult("web1", "deploy", cmd, {
        ...ok,
        code: 5,
        stderr: "Job for hello.service failed.\n",
      }),
    (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(
        err.message,
        "Command failed on web1 with exit code 5 (failed): sudo -n -H -- systemctl restart hello\n" +
          "  | Job for hello.service failed.",
      );
      return true;
    },
  );
});

Deno.test("displayCommand: long scripts are shortened, stdin is shown but never its content", () => {
  const script = "set -e\numask 077\ncat > x";
  assert.equal(
    displayCommand({ argv: ["sh", "-c", script, "sh", "/x"], as: "root", stdin: "secret" }, "d"),
    "sudo -n -H -- sh -c 'set -e…' sh /x < [stdin]",
  );
  assert.equal(
    displayCommand({ argv: ["cat"], stdin: new Secret("hunter22") }, "d"),
    "cat < [stdin]",
  );
  const long = "x".repeat(200);
  assert.equal(displayCommand({ argv: ["echo", long] }, "d"), `echo '${"x".repeat(60)}…'`);
});

Deno.test("parseBytesSent reads rsync --stats", async () => {
  await withTempDir(async (dir) => {
    const { src, dst } = await prepare(dir);
    const out = await rsync(["-rlc", "--stats", `${src}/`, `${dst}/`]);
    const bytes = parseBytesSent(out);
    assert.ok(bytes > 0, out);
    assert.equal(parseBytesSent("Total bytes sent: 1,234,567\n"), 1234567);
    assert.equal(parseBytesSent("nothing"), 0);
  });
});

Deno.test("SshExecutor: ssh_options reach ssh, and win over djaploy's defaults they do not manage", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(
      dir,
      'project_name = "hello"\nssh_options = ["KexAlgorithms=curve25519-sha256", "ConnectTimeout=30"]\n',
    );
    const exec = new SshExecutor(host, {
      controlDir: dir,
      socketName: "0",
      startLimiter: new Limiter(1),
    });
    // ssh -G prints the configuration ssh would use, without connecting.
    const out = await new Deno.Command("ssh", {
      args: ["-G", ...exec.baseArgs(), host.ssh_hostname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const config = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(config, /^kexalgorithms curve25519-sha256$/m);
    assert.match(config, /^connecttimeout 30$/m);
    assert.match(config, /^batchmode yes$/m);
    assert.match(config, new RegExp(`^controlpath ${join(dir, "0")}$`, "m"));
  });
});
