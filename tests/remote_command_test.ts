import assert from "node:assert/strict";
import { shScript, toShell, wrapArgv } from "../lib/exec/remote_command.ts";
import { sh, withTempDir } from "./helpers/fixtures.ts";

const SSH_USER = "deploy";

Deno.test("wrapArgv: without `as`, the ssh user runs the argv as it is", () => {
  assert.deepEqual(wrapArgv({ argv: ["ls", "-l"] }, SSH_USER), ["ls", "-l"]);
});

Deno.test("wrapArgv: as root goes through sudo -n without -u", () => {
  assert.deepEqual(wrapArgv({ argv: ["systemctl", "restart", "hello"], as: "root" }, SSH_USER), [
    "sudo",
    "-n",
    "-H",
    "--",
    "systemctl",
    "restart",
    "hello",
  ]);
});

Deno.test("wrapArgv: as the app user goes through sudo -n -u", () => {
  assert.deepEqual(wrapArgv({ argv: ["id"], as: "app" }, SSH_USER), [
    "sudo",
    "-n",
    "-H",
    "-u",
    "app",
    "--",
    "id",
  ]);
});

Deno.test("wrapArgv: as the ssh user itself needs no sudo", () => {
  assert.deepEqual(wrapArgv({ argv: ["id"], as: SSH_USER }, SSH_USER), ["id"]);
  assert.deepEqual(wrapArgv({ argv: ["id"], as: "root" }, "root"), ["id"]);
});

Deno.test("wrapArgv: cwd becomes env -C, after sudo", () => {
  assert.deepEqual(wrapArgv({ argv: ["pwd"], cwd: "/srv/app" }, SSH_USER), [
    "env",
    "-C",
    "/srv/app",
    "pwd",
  ]);
  assert.deepEqual(wrapArgv({ argv: ["pwd"], cwd: "/srv/app", as: "app" }, SSH_USER), [
    "sudo",
    "-n",
    "-H",
    "-u",
    "app",
    "--",
    "env",
    "-C",
    "/srv/app",
    "pwd",
  ]);
});

Deno.test("wrapArgv: env vars become NAME=value arguments of env, after sudo (which resets the environment)", () => {
  assert.deepEqual(
    wrapArgv(
      { argv: ["apt-get", "install"], as: "root", env: { DEBIAN_FRONTEND: "noninteractive" } },
      SSH_USER,
    ),
    ["sudo", "-n", "-H", "--", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install"],
  );
  assert.deepEqual(
    wrapArgv({ argv: ["x"], cwd: "/a", env: { A: "1", B: "two words" } }, SSH_USER),
    ["env", "-C", "/a", "A=1", "B=two words", "x"],
  );
});

Deno.test("wrapArgv: an empty env adds no env prefix", () => {
  assert.deepEqual(wrapArgv({ argv: ["x"], env: {} }, SSH_USER), ["x"]);
});

Deno.test("toShell: the wrapped argv, quoted", () => {
  assert.equal(
    toShell(
      { argv: ["sh", "-c", 'echo "$1"', "sh", "it's"], as: "app", cwd: "/srv/my app" },
      SSH_USER,
    ),
    `sudo -n -H -u app -- env -C '/srv/my app' sh -c 'echo "$1"' sh 'it'\\''s'`,
  );
  assert.equal(
    toShell({ argv: ["x"], env: { B: "two words", C: "$HOME" } }, SSH_USER),
    "env 'B=two words' 'C=$HOME' x",
  );
});

Deno.test("toShell: cwd and env take effect when the text runs in a shell", async () => {
  await withTempDir(async (dir) => {
    const value = `it's $HOME and "quotes"\nline 2`;
    const text = toShell(
      { argv: ["sh", "-c", 'pwd; printf "%s" "$V"'], cwd: dir, env: { V: value } },
      SSH_USER,
    );
    const r = await sh(text);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${dir}\n${value}`);
  });
});

Deno.test("shScript: a constant script with its values as positional arguments", async () => {
  assert.deepEqual(shScript('echo "$1"', "a b", "c"), ["sh", "-c", 'echo "$1"', "sh", "a b", "c"]);
  const argv = shScript('printf "%s|" "$0" "$@"', "it's $x", "");
  const r = await sh(toShell({ argv }, SSH_USER));
  assert.equal(r.stdout, "sh|it's $x||");
});
