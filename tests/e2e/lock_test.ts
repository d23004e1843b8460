/**
 * End to end, the deploy lock: one run at a time per app and host; the lock
 * names its holder, and lives no longer than the run that holds it, even one
 * killed with SIGKILL.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  failedRequests,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
  withLoad,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

async function commitMessage(project: TestProject, text: string): Promise<void> {
  await project.write("pages/message.txt", `${text}\n`);
  await project.commit(text);
}

/** Starts two deploys at once: exactly one runs, the other is refused and names the holder. */
async function race(host: TestHost, project: TestProject, text: string): Promise<void> {
  const both = await Promise.all([
    djaploy(project, ["deploy", "--env", "test"]),
    djaploy(project, ["deploy", "--env", "test"]),
  ]);
  const all = both.map((r) => `exit ${r.code}:\n${r.output}`).join("\n-----\n");
  assert.deepEqual(both.map((r) => r.code).sort(), [0, 1], `exactly one deploy succeeds:\n${all}`);
  const loser = both.find((r) => r.code === 1)!;
  assert.match(
    loser.output,
    /the deploy lock of hello on web-1 is held by [^\s@]+@\S+ \(djaploy deploy --env test --latest, since [^)]*\)/,
    `the loser is refused by the lock:\n${all}`,
  );
  assert.match(loser.output, /hint: .*--lock-wait/);
  assert.equal(await pageMessage(host), text);
}

e2eTest(
  "lock: of two deploys started at once, one runs and the other names the holder",
  async (t) => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");

      await t.step("with the artifact already built", async () => {
        // A dry run builds (and caches) the artifact, so only the lock decides.
        ok(await djaploy(project, ["deploy", "--env", "test", "--dry-run"]), "deploy --dry-run");
        await race(host, project, "Hello from djaploy!");
        // The winner released it.
        const unlock = await djaploy(project, ["unlock", "--env", "test", "--yes"]);
        ok(unlock, "unlock");
        assert.match(unlock.output, /web-1: no deploy lock is held/);
      });

      await t.step(
        "with a new commit both runs build at once (shared artifact cache)",
        async () => {
          await commitMessage(project, "Built by both");
          await race(host, project, "Built by both");
        },
      );

      await t.step(
        "with --lock-wait, the second run waits for the first and then deploys",
        async () => {
          // Started at once, as above, where one of them was refused: here both succeed.
          await commitMessage(project, "Queued");
          const args = ["deploy", "--env", "test", "--lock-wait", "120"];
          const running = Promise.all([djaploy(project, args), djaploy(project, args)]);
          // While they run, status reads the lock without taking it, and names its holder (its
          // JSON and its text, in turn).
          let ended = false;
          void running.finally(() => ended = true);
          const seen = { json: [] as string[], text: [] as string[] };
          for (let i = 0; !ended; i++) {
            const json = i % 2 === 0;
            const st = await djaploy(project, [
              "status",
              "--env",
              "test",
              ...(json ? ["--json"] : []),
            ]);
            ok(st, "status during the deploys");
            if (json) {
              const lock = JSON.parse(st.stdout)[0].deploy_lock;
              if (lock.held) seen.json.push(`${lock.holder} ${lock.command}`);
            } else {
              const line = /^ {2}deploy lock: held by (.*)$/m.exec(st.stdout);
              if (line) seen.text.push(line[1]);
            }
          }
          assert.ok(
            seen.json.some((l) => /^[^\s@]+@\S+ deploy --env test --latest$/.test(l)) &&
              seen.text.some((l) =>
                /^[^\s@]+@\S+ \(djaploy deploy --env test --latest, since \S+, \d+ s ago\)$/.test(l)
              ),
            `status named the holder while the deploys ran: ${JSON.stringify(seen)}`,
          );
          const both = await running;
          const all = both.map((r) => `exit ${r.code}:\n${r.output}`).join("\n-----\n");
          assert.deepEqual(both.map((r) => r.code), [0, 0], `both deploys succeed:\n${all}`);
          // The one that waited said for whom, before it waited.
          const waited = both.filter((r) =>
            /web-1 {2}waiting for the deploy lock, held by [^\s@]+@\S+ \(djaploy deploy --env test --latest, since /
              .test(r.output)
          );
          assert.equal(waited.length, 1, `one run waited, and said for whom:\n${all}`);
          assert.equal(await pageMessage(host), "Queued");
          const unlock = await djaploy(project, ["unlock", "--env", "test", "--yes"]);
          assert.match(unlock.output, /web-1: no deploy lock is held/);
          const after = await djaploy(project, ["status", "--env", "test", "--json"]);
          assert.deepEqual(JSON.parse(after.stdout)[0].deploy_lock, { held: false });
        },
      );
    });
  },
);

e2eTest(
  "lock: a deploy killed with SIGKILL at any point leaves the site serving and no lock behind",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      // How long an ordinary deploy takes here: the kills spread over it.
      await commitMessage(project, "Timed");
      const timed = await djaploy(project, ["deploy", "--env", "test"]);
      ok(timed, "timed deploy");
      let live = "Timed";
      const report: string[] = [];
      for (const fraction of [0.3, 0.6, 0.8, 0.9, 0.97]) {
        const afterMs = Math.round(timed.ms * fraction);
        const text = `Killed after ${afterMs} ms`;
        await commitMessage(project, text);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const killed = await djaploy(project, ["deploy", "--env", "test"], {
          onSpawn: (child) => {
            timer = setTimeout(() => {
              try {
                child.kill("SIGKILL");
              } catch {
                // It had already finished.
              }
            }, afterMs);
          },
        });
        clearTimeout(timer);
        const reached = killed.output.trim().split("\n").at(-1) ?? "";
        report.push(`${afterMs} ms: exit ${killed.code}, last line "${reached.slice(0, 80)}"`);

        const serving = await pageMessage(host);
        assert.ok(
          serving === live || serving === text,
          `after a kill at ${afterMs} ms the site serves "${serving}"`,
        );
        // The next deploy needs no cleanup, and refuses no request while it repairs.
        const { value: next, load } = await withLoad(
          `http://${host.ip}/`,
          () => djaploy(project, ["deploy", "--env", "test"]),
          { threads: 1, connections: 2, warmupMs: 300, cooldownMs: 300 },
        );
        ok(next, `the deploy after a kill at ${afterMs} ms`);
        assert.equal(await pageMessage(host), text);
        assert.equal(
          failedRequests(load),
          0,
          `requests failed during the deploy after a kill at ${afterMs} ms:\n${load.output}`,
        );
        // Where traffic goes is where state.json says it goes.
        const r = await host.ssh(
          "readlink /run/djaploy/hello.sock; sudo -n cat /var/lib/djaploy/apps/hello/active-slot",
        );
        const [socket, slot] = r.stdout.trim().split("\n");
        assert.equal(socket, `/run/hello-${slot}/hello.sock`, `after a kill at ${afterMs} ms`);
        live = text;
      }
      // deno-lint-ignore no-console
      console.log(`lock: a deploy took ${timed.ms} ms; SIGKILL points: ${report.join("; ")}`);
    });
  },
);

e2eTest("lock: unlock when no lock is held says so and exits 0", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
    const r = await djaploy(project, ["unlock", "--env", "test", "--yes"]);
    ok(r, "unlock");
    assert.match(r.output, /web-1: no deploy lock is held/);
    assert.doesNotMatch(r.output, /lock broken/);
  });
});

e2eTest(
  "lock: on a host whose sudo warns on every call (its name does not resolve), deploys run, and a second one is still refused by name",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      // As on a fresh server whose hostname is missing from /etc/hosts.
      const renamed = await host.ssh("sudo -n hostname djaploy-unresolvable && sudo -n true");
      assert.match(
        renamed.stderr,
        /sudo: unable to resolve host djaploy-unresolvable/,
        `the host's sudo warns, as the test needs:\n${renamed.stderr}`,
      );
      // The warning comes before the lock's first line on the lock shell's output: passed over.
      await commitMessage(project, "Deployed past the warning");
      const deployed = await djaploy(project, ["deploy", "--env", "test"]);
      ok(deployed, "deploy");
      assert.equal(await pageMessage(host), "Deployed past the warning");
      assert.doesNotMatch(deployed.output, /unable to resolve host/);
      // And before HELD: the refused run still names the holder.
      await commitMessage(project, "Raced past the warning");
      await race(host, project, "Raced past the warning");
      const status = await djaploy(project, ["status", "--env", "test"]);
      ok(status, "status");
      assert.match(status.output, /live: \S+ \(main [0-9a-f]+,/);
    });
  },
);
