import assert from "node:assert/strict";
import { join } from "node:path";
import {
  base64Bytes,
  type FactProbe,
  factsQuery,
  factsScript,
  fileHashesProbe,
  gatherFacts,
  splitFactsOutput,
} from "../lib/host/facts.ts";
import { dirsProbe, fileProbe, packagesProbe, unitsProbe, userProbe } from "../lib/host/probes.ts";
import { sha256 } from "../lib/host/remote_ops.ts";
import { RecordingExecutor } from "../lib/exec/recording_executor.ts";
import { UserError } from "../lib/errors.ts";
import { sh, withTempDir, writeFiles } from "./helpers/fixtures.ts";
import { ShellExecutor } from "./helpers/shell_executor.ts";

const raw = (name: string, argv: string[]): FactProbe<string> => ({
  name,
  argv,
  parse: (out) => out,
});

/** Runs the facts script with `shell` as the hosts do (its output in base64) and splits it. */
async function runScript(probes: FactProbe[], shell = "sh") {
  const r = await sh(`${shell} -c "$1" | base64 -w 0`, [factsScript(probes)], {
    env: { LANG: "C.UTF-8" },
  });
  assert.equal(r.code, 0, r.stderr);
  const bytes = base64Bytes(r.stdout);
  assert.ok(bytes, r.stdout);
  const split = splitFactsOutput(bytes, probes.length);
  assert.ok(split, "the script's output splits into one answer per probe");
  return new Map(probes.map((p, i) => [p.name, split[i]]));
}

for (const shell of ["dash", "bash"]) {
  Deno.test(`factsScript + splitFactsOutput (${shell}): each probe's exact stdout and exit code`, async () => {
    const out = await runScript([
      raw("hello", ["echo", "hi"]),
      raw("fails", ["false"]),
      raw("multi", ["printf", "a\nb\n\nc"]),
      raw("trailing blank lines", ["printf", "x\n\n\n"]),
      raw("silent", ["true"]),
      raw("stderr is dropped", ["sh", "-c", "echo out; echo err >&2; exit 3"]),
      raw("no such program", ["djaploy-no-such-program-xyz"]),
      raw("literal $HOME and 'quotes'", ["echo", "$HOME", "it's"]),
      raw("UTF-8", ["printf", "été €\n"]),
      raw("not UTF-8", ["printf", "a\\377b"]),
    ], shell);
    assert.deepEqual(Object.fromEntries(out), {
      "hello": { out: "hi\n", code: 0 },
      "fails": { out: "", code: 1 },
      "multi": { out: "a\nb\n\nc", code: 0 },
      "trailing blank lines": { out: "x\n\n\n", code: 0 },
      "silent": { out: "", code: 0 },
      "stderr is dropped": { out: "out\n", code: 3 },
      "no such program": { out: "", code: 127 },
      "literal $HOME and 'quotes'": { out: "$HOME it's\n", code: 0 },
      "UTF-8": { out: "été €\n", code: 0 },
      "not UTF-8": { out: "a\uFFFDb", code: 0 },
    });
  });
}

Deno.test("factsScript: a probe that exits the shell does not stop the ones after it", async () => {
  const out = await runScript([
    raw("exits", ["sh", "-c", "exit 5"]),
    raw("after", ["echo", "still here"]),
  ]);
  assert.deepEqual(out.get("exits"), { out: "", code: 5 });
  assert.deepEqual(out.get("after"), { out: "still here\n", code: 0 });
});

Deno.test("base64Bytes: the bytes of base64 as `base64 -w 0` writes it; undefined for anything else", () => {
  const text = (b: Uint8Array | undefined) => b && new TextDecoder().decode(b);
  assert.equal(text(base64Bytes(btoa("nginx installed\n"))), "nginx installed\n");
  assert.equal(text(base64Bytes("w6l0w6k=")), "été");
  assert.deepEqual(base64Bytes(""), new Uint8Array());
  assert.equal(base64Bytes("w6l0w6k=w6k="), undefined);
  assert.equal(base64Bytes("not base64!"), undefined);
  assert.equal(base64Bytes("w6l0w6k"), undefined, "unpadded");
  assert.equal(base64Bytes(" YQ==\n"), undefined, "whitespace is not skipped");
  assert.equal(base64Bytes("YW Jj"), undefined, "whitespace is not skipped");
});

Deno.test("splitFactsOutput: only whole answers, one per probe, and nothing after them", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(splitFactsOutput(bytes("0 3\nabc1 0\n"), 2), [
    { out: "abc", code: 0 },
    { out: "", code: 1 },
  ]);
  assert.deepEqual(splitFactsOutput(bytes("0 5\nété"), 1), [{ out: "été", code: 0 }]);
  assert.deepEqual(splitFactsOutput(bytes(""), 0), []);
  for (
    const broken of [
      "",
      "0 3\nab", // cut short
      "0 3\nabcd", // something after
      "0 3\nabc", // one answer of two
      "0 3 \nabc1 0\n",
      "x 3\nabc1 0\n",
      "0 -3\nabc1 0\n",
      "1000 0\n1 0\n", // an exit code is 0-255
      "0 3abc1 0\n",
      "sudo: a password is required\n",
    ]
  ) {
    assert.equal(splitFactsOutput(bytes(broken), 2), undefined, JSON.stringify(broken));
  }
});

Deno.test("factsScript: output a probe reads from the app user's files cannot forge other facts", async () => {
  // What a hostile app user would plant in a file or link target root reads: answers in the
  // script's own format, with characters of several bytes that a count of characters would miss.
  const forged = "été\n0 16\nnginx installed\n0 0\n€€€";
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "state.json": forged });
    for (const shell of ["dash", "bash"]) {
      const out = await runScript([
        raw("state", ["cat", join(dir, "state.json")]),
        raw("packages", ["echo", "nothing"]),
      ], shell);
      assert.deepEqual(out.get("state"), { out: forged, code: 0 });
      assert.deepEqual(out.get("packages"), { out: "nothing\n", code: 0 });
    }
  });
});

Deno.test("factsQuery: hosts reading the same facts share one script; each host's output goes to its own parsers", async () => {
  const seen: string[] = [];
  const probe = (host: string): FactProbe<string> => ({
    name: "who",
    argv: ["echo", "same"],
    parse: (out) => {
      seen.push(host);
      return `${host}:${out.trim()}`;
    },
  });
  // Two hosts with the same probes: one script, made once (the same string).
  const a = factsQuery([probe("a")], []);
  const b = factsQuery([probe("b")], []);
  assert.equal(a.script, b.script);
  const out = await sh(b.script);
  const exec = new RecordingExecutor({ host: "b", sshUser: "deploy" });
  const bytes = new TextEncoder().encode(out.stdout);
  assert.equal(b.read(exec, { code: 0, bytes, stdout: out.stdout }).get(probe("b")), "b:same");
  assert.deepEqual(seen, ["b"]);
  // Other probes: another script; so is the same command under another name (the script names it).
  const other = factsQuery([raw("who", ["echo", "other"])], []);
  assert.notEqual(other.script, a.script);
  const renamed = factsQuery([raw("whom", ["echo", "same"])], []);
  assert.notEqual(renamed.script, a.script);
  assert.match(renamed.script, /^: probe whom$/m);
});

Deno.test("factsQuery: an answer that is not the script's reads as probes not run, or with an exit code other than 0 as an error", () => {
  const p = raw("who", ["echo", "x"]);
  const query = factsQuery([p], []);
  const exec = new RecordingExecutor({ host: "web1", sshUser: "deploy" });
  const bytes = new TextEncoder().encode("0 5\nforged, longer");
  assert.equal(query.read(exec, { code: 0, bytes, stdout: "" }).get(p), "");
  assert.throws(
    () => query.read(exec, { code: 255, stdout: "THEN garbled" }),
    /Cannot read the state of web1: exit code 255/,
  );
});

Deno.test("fileHashesProbe: parses sha256sum lines; other lines are ignored", () => {
  const a = "a".repeat(64);
  const b = "0123456789abcdef".repeat(4);
  const p = fileHashesProbe(["/etc/a", "/etc/my b"]);
  assert.deepEqual(p.argv, ["sha256sum", "--", "/etc/a", "/etc/my b"]);
  const parsed = p.parse(
    `${a}  /etc/a\n${b}  /etc/my b\nsha256sum: /etc/c: No such file or directory\nnot a hash  /x\n`,
    1,
  );
  assert.deepEqual([...parsed], [["/etc/a", a], ["/etc/my b", b]]);
});

Deno.test("packagesProbe: only packages whose status is installed", () => {
  const p = packagesProbe(["nginx", "rsync", "python3.11"]);
  assert.deepEqual(p.argv, [
    "dpkg-query",
    "-W",
    "-f=${Package} ${db:Status-Status}\\n",
    "nginx",
    "rsync",
    "python3.11",
  ]);
  const parsed = p.parse(
    "nginx installed\nrsync not-installed\npython3.11 config-files\npython3-pip half-installed\n",
    1,
  );
  assert.deepEqual([...parsed], ["nginx"]);
  assert.equal(p.parse("", 1).size, 0);
});

Deno.test("unitsProbe: parses systemctl show's blocks by Id; a unit systemd does not know is missing", () => {
  const p = unitsProbe(["hello", "nginx.service", "ghost", "cut-off.timer"]);
  const parsed = p.parse(
    "UnitFileState=disabled\nId=nginx.service\nActiveState=inactive\n\n" +
      "Id=hello.service\nActiveState=active\nUnitFileState=enabled\n\n" +
      "Id=ghost.service\nActiveState=inactive\nUnitFileState=\n",
    1,
  );
  assert.deepEqual(Object.fromEntries(parsed), {
    hello: { enabled: "enabled", active: "active" },
    "nginx.service": { enabled: "disabled", active: "inactive" },
    ghost: { enabled: "missing", active: "inactive" },
    "cut-off.timer": { enabled: "missing", active: "unknown" },
  });
  // Every unit answered: by position, so an alias finds the block of the unit it names.
  const alias = unitsProbe(["sshd", "cron"]).parse(
    "Id=ssh.service\nActiveState=active\nUnitFileState=enabled\n\n" +
      "Id=cron.service\nActiveState=inactive\nUnitFileState=disabled\n",
    0,
  );
  assert.deepEqual(alias.get("sshd"), { enabled: "enabled", active: "active" });
  assert.deepEqual(alias.get("cron"), { enabled: "disabled", active: "inactive" });
});

Deno.test("unitsProbe: one systemctl call for every unit, run with a stand-in systemctl", async () => {
  await withTempDir(async (dir) => {
    // A systemctl that logs its calls and knows "hello" (enabled, active) and "nginx" (disabled, failed).
    await writeFiles(dir, {
      "bin/systemctl": `#!/bin/sh
echo "$*" >> "${dir}/calls"
[ "$1 $2" = "show --property=Id,UnitFileState,ActiveState" ] || exit 1
shift 3
sep=
for u; do
  printf "$sep"; sep='\\n'
  case "$u" in
    hello) printf 'Id=hello.service\\nActiveState=active\\nUnitFileState=enabled\\n' ;;
    nginx) printf 'Id=nginx.service\\nActiveState=failed\\nUnitFileState=disabled\\n' ;;
    *) printf 'Id=%s.service\\nActiveState=inactive\\nUnitFileState=\\n' "$u" ;;
  esac
done
`,
    });
    await Deno.chmod(join(dir, "bin/systemctl"), 0o755);
    const p = unitsProbe(["hello", "nginx", "ghost"]);
    const exec = new ShellExecutor("root", { PATH: `${dir}/bin:${Deno.env.get("PATH")}` });
    const facts = await gatherFacts(exec, [p], []);
    assert.deepEqual(Object.fromEntries(facts.get(p)), {
      hello: { enabled: "enabled", active: "active" },
      nginx: { enabled: "disabled", active: "failed" },
      ghost: { enabled: "missing", active: "inactive" },
    });
    assert.equal(
      await Deno.readTextFile(join(dir, "calls")),
      "show --property=Id,UnitFileState,ActiveState -- hello nginx ghost\n",
    );
  });
});

Deno.test("dirsProbe: only the paths that are directories, run for real", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "a"));
    await Deno.mkdir(join(dir, "with space"));
    await Deno.mkdir(join(dir, "it's"));
    await writeFiles(dir, { "file": "x" });
    await Deno.symlink(join(dir, "a"), join(dir, "link-to-dir"));
    const paths = ["a", "with space", "it's", "file", "missing", "link-to-dir"].map((p) =>
      join(dir, p)
    );
    const p = dirsProbe("test:dirs", paths);
    const facts = await gatherFacts(new ShellExecutor("root"), [p], []);
    assert.deepEqual(
      [...facts.get(p)].sort(),
      ["a", "it's", "link-to-dir", "with space"].map((p) => join(dir, p)).sort(),
    );
  });
});

Deno.test("gatherFacts: probes and file hashes in one command, run for real", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "one.conf": "one\n", "two words.conf": "it's $two\n" });
    const files = ["one.conf", "two words.conf", "missing.conf"].map((p) => join(dir, p));
    const root = userProbe("root");
    const nobody = userProbe("djaploy-no-such-user");
    const text = fileProbe("text", join(dir, "two words.conf"));
    const absent = fileProbe("absent", join(dir, "missing.conf"));
    const exec = new ShellExecutor("root");
    const facts = await gatherFacts(exec, [root, nobody, text, absent], files);
    assert.equal(exec.stats.commands, 1);
    assert.equal(facts.get(root), true);
    assert.equal(facts.get(nobody), false);
    assert.equal(facts.get(text), "it's $two\n");
    assert.equal(facts.get(absent), undefined);
    assert.equal(facts.fileHash(files[0]), sha256("one\n"));
    assert.equal(facts.fileHash(files[1]), sha256("it's $two\n"));
    assert.equal(facts.fileHash(files[2]), undefined);
    assert.throws(
      () => facts.get(userProbe("someone-else")),
      /Fact "user:someone-else" was not gathered/,
    );
  });
});

const hasDpkg = (await sh("command -v dpkg-query")).code === 0;

Deno.test({
  name: "packagesProbe: run for real against this machine's dpkg",
  ignore: !hasDpkg,
  async fn() {
    const p = packagesProbe(["bash", "djaploy-no-such-package"]);
    const facts = await gatherFacts(new ShellExecutor("root"), [p], []);
    assert.deepEqual([...facts.get(p)], ["bash"]);
  },
});

Deno.test("gatherFacts: sends one read-only command as root", async () => {
  const exec = new RecordingExecutor({ host: "web1", sshUser: "deploy" });
  await gatherFacts(exec, [userProbe("app")], ["/etc/x"]);
  assert.equal(exec.recorded.length, 1);
  const cmd = exec.recorded[0].command!;
  assert.equal(cmd.as, "root");
  assert.equal(cmd.readOnly, true);
  assert.match(exec.recorded[0].text, /^sudo -n -H -- sh -c '\(exec 2>\/dev\/null…' sh$/);
});

Deno.test("gatherFacts: a failure before any probe ran is a user error about sudo", async () => {
  const exec = new RecordingExecutor({
    host: "web1",
    sshUser: "deploy",
    respond: () => ({ code: 1, stderr: "sudo: a password is required\n" }),
  });
  await assert.rejects(
    () => gatherFacts(exec, [userProbe("app")], []),
    (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, "Cannot read the state of web1: sudo: a password is required");
      assert.equal(err.hint, "The ssh user deploy needs passwordless sudo (sudo -n).");
      return true;
    },
  );
});
