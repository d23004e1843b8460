/**
 * End to end, hooks and the release command (docs/hooks.md): every hook
 * writes a line with a timestamp (the hosts share the controller's kernel
 * clock), so the test reads the order across this machine and the host; a
 * failing release command leaves the old release serving on every host and
 * the records naming it, and the fixed one then deploys, having run on the
 * first host only.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  djaploy,
  e2eTest,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const POINTS = [
  "before_deploy",
  "after_deploy",
  "before_migrate",
  "after_migrate",
  "before_switch",
  "after_switch",
  "before_activate",
  "after_activate",
  "before_rollback",
  "after_rollback",
];

const REMOTE_LOG = "/home/app/hooks.log";
const ROOT_LOG = "/var/log/djaploy-hooks-test.log";

/** Each point: a local hook, then a remote one as the app user; after_switch also one as root. */
function hooksToml(localLog: string): string {
  const line = (where: string) =>
    `echo "$(date +%s%N) ${where} $DJAPLOY_HOOK $DJANGO_SETTINGS_MODULE"`;
  return POINTS.map((p) =>
    `[[hooks.${p}]]\non = "local"\nrun = ${JSON.stringify(`${line("local")} >> ${localLog}`)}\n\n` +
    `[[hooks.${p}]]\nrun = ${JSON.stringify(`${line("remote")} >> ${REMOTE_LOG}`)}\n` +
    (p === "after_switch"
      ? `\n[[hooks.${p}]]\nuser = "root"\nrun = ${
        JSON.stringify(`echo "$(date +%s%N) root $DJAPLOY_HOOK $(id -un) $(pwd)" >> ${ROOT_LOG}`)
      }\n`
      : "")
  ).join("\n");
}

/** Every hook line so far, in time order, as "<where> <point>"; clears the logs. */
async function hookLines(host: TestHost, localLog: string): Promise<string[]> {
  const local = await Deno.readTextFile(localLog).catch(() => "");
  await Deno.writeTextFile(localLog, "");
  const r = await host.ssh(
    `sudo -n sh -c 'cat ${REMOTE_LOG} ${ROOT_LOG} 2>/dev/null; : > ${REMOTE_LOG}; rm -f ${ROOT_LOG}'`,
  );
  assert.equal(r.code, 0, r.stderr);
  return (local + r.stdout).split("\n").filter(Boolean)
    .map((l) => l.split(" "))
    .sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : BigInt(a[0]) > BigInt(b[0]) ? 1 : 0))
    .map((f) => f.slice(1).join(" "));
}

/** The lines a point's hooks write: local, then remote with the app's environment. */
const at = (point: string) => [`local ${point} `, `remote ${point} hello.settings`];
const switched = [
  ...at("before_switch"),
  ...at("after_switch"),
  "root after_switch root /",
];

e2eTest(
  "hooks: deploy, activate and rollback fire their hooks in order, here and on the host",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const root = await Deno.makeTempDir({ prefix: "djaploy-hooks-" });
      const localLog = join(root, "local.log");
      try {
        const project = await makeProject({
          hosts: [host],
          strategy: "bluegreen",
          config: hooksToml(localLog),
        });
        ok(await djaploy(project, ["configure", "--env", "test"]), "configure");

        // The first bluegreen deploy goes live at once: it switches.
        ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
        assert.deepEqual(await hookLines(host, localLog), [
          ...at("before_deploy"),
          ...at("before_migrate"),
          ...at("after_migrate"),
          ...switched,
          // remote after_deploy is the host's last step; the local one runs once every host is done.
          ...at("after_deploy").reverse(),
        ]);

        // A later one stages only: no switch.
        await project.write("pages/message.txt", "Staged\n");
        await project.commit("Staged");
        const dry = await djaploy(project, ["deploy", "--env", "test", "--dry-run"]);
        ok(dry, "deploy --dry-run");
        assert.match(dry.output, /hook before_deploy: would run here: /);
        assert.match(dry.output, /DJAPLOY_HOOK=before_migrate /, "the remote hooks are listed");
        assert.deepEqual(await hookLines(host, localLog), [], "a dry run runs no hook");
        ok(await djaploy(project, ["deploy", "--env", "test"]), "staging deploy");
        assert.deepEqual(await hookLines(host, localLog), [
          ...at("before_deploy"),
          ...at("before_migrate"),
          ...at("after_migrate"),
          ...at("after_deploy").reverse(),
        ]);

        ok(await djaploy(project, ["activate", "--env", "test"]), "activate");
        assert.equal(await pageMessage(host), "Staged");
        assert.deepEqual(await hookLines(host, localLog), [
          ...at("before_activate"),
          ...switched,
          ...at("after_activate").reverse(),
        ]);

        ok(await djaploy(project, ["rollback", "--env", "test"]), "rollback");
        assert.equal(await pageMessage(host), "Hello from djaploy!");
        assert.deepEqual(await hookLines(host, localLog), [
          ...at("before_rollback"),
          ...switched,
          ...at("after_rollback").reverse(),
        ]);

        // A failing after_switch hook: reported, exit 1, the switch stands.
        const failing = (await Deno.readTextFile(join(project.infraDir, "djaploy.toml")))
          .replace(
            "[[hooks.after_switch]]\n",
            '[[hooks.after_switch]]\nrun = "exit 4"\n\n[[hooks.after_switch]]\n',
          );
        await project.write("infra/djaploy.toml", failing);
        const act = await djaploy(project, ["activate", "--env", "test"]);
        assert.equal(act.code, 1, act.output);
        assert.match(act.output, /the after_switch hook "exit 4" failed on web-1 with exit code 4/);
        assert.equal(await pageMessage(host), "Staged", "the switch stands");
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  },
);

interface HostStatus {
  host: string;
  live?: { release: string; commit: string };
}

async function liveReleases(project: TestProject): Promise<Record<string, string | undefined>> {
  const r = await djaploy(project, ["status", "--env", "test", "--json"]);
  ok(r, "status --json");
  const all = JSON.parse(r.stdout) as HostStatus[];
  return Object.fromEntries(all.map((s) => [s.host, s.live?.release]));
}

const RELEASE_SH = (exit: number) =>
  `#!/bin/sh
# The release command: what ran, with which Python, then exit ${exit}.
echo "$(cat pages/message.txt) $(command -v python) $VIRTUAL_ENV $DJANGO_SETTINGS_MODULE" >> /home/app/release.log
exit ${exit}
`;

e2eTest(
  "release command: a failure leaves the old release serving everywhere; the fix deploys, run on the first host only",
  async () => {
    await withHosts(["web-1", "web-2"], async (hosts) => {
      const project = await makeProject({
        hosts,
        strategy: "zero_downtime",
        config: '[release]\ncommand = "sh release.sh"',
        files: { "release.sh": RELEASE_SH(0) },
      });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      const v1 = await liveReleases(project);

      await project.write("pages/message.txt", "Broken\n");
      await project.write("release.sh", RELEASE_SH(7));
      await project.commit("A release command that fails");
      const bad = await djaploy(project, ["deploy", "--env", "test"]);
      assert.equal(bad.code, 1, bad.output);
      assert.match(bad.output, /Fix the release command "sh release\.sh": it exited with code 7/);
      assert.match(bad.output, /Not going past "release command": web-1 failed/);
      for (const host of hosts) {
        assert.equal(
          await pageMessage(host),
          "Hello from djaploy!",
          `${host.name} serves the old release`,
        );
      }
      assert.deepEqual(await liveReleases(project), v1, "status names the old release");

      await project.write("pages/message.txt", "Fixed\n");
      await project.write("release.sh", RELEASE_SH(0));
      await project.commit("The release command fixed");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "fixed deploy");
      for (const host of hosts) assert.equal(await pageMessage(host), "Fixed");

      const [web1, web2] = hosts;
      const ran = await web1.ssh("cat /home/app/release.log");
      const lines = ran.stdout.trim().split("\n");
      assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["Hello", "Broken", "Fixed"], ran.stdout);
      const [, python, venv, settings] = lines[2].split(" ").slice(-4);
      assert.equal(python, `${venv}/bin/python`, "the release's virtualenv is first in PATH");
      assert.match(venv, /^\/home\/app\/apps\/hello\/shared\/venv-/);
      assert.equal(settings, "hello.settings", "the app's environment is loaded");
      // A deploy that changes nothing skips it; --force runs it.
      ok(await djaploy(project, ["deploy", "--env", "test"]), "a deploy of the live code");
      const again = await web1.ssh("wc -l < /home/app/release.log");
      assert.equal(
        again.stdout.trim(),
        "3",
        "a deploy that changes nothing skips the release command",
      );
      ok(await djaploy(project, ["deploy", "--env", "test", "--force"]), "deploy --force");
      const forced = await web1.ssh("wc -l < /home/app/release.log");
      assert.equal(forced.stdout.trim(), "4", "--force runs it");
      const none = await web2.ssh("test -e /home/app/release.log");
      assert.notEqual(none.code, 0, "the release command runs on the first host only");
    });
  },
);
