/**
 * End to end: the app user attacks root. A web app's remote-code-execution
 * bug lands as the app user, so this test is that attacker: with a shell as
 * `app` (sudo -u app) it plants a link at every path it can write that djaploy
 * or its units touch, forges djaploy's records, and then lets the operator run
 * configure, deploys with each strategy, activate, rollback and the boot
 * unit. Nothing outside the app's folders may change but what djaploy writes
 * on purpose, no root file may become the app user's, no planted unit may
 * start, and forged records may change no decision.
 *
 * Backup and restore jobs are attacked in tests/e2e/hostile_backup_test.ts.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  hostSnapshot,
  makeProject,
  type TestHost,
  withHosts,
} from "./harness.ts";
import type { TestProject } from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";
import { q } from "./harness/run.ts";

const APP = "/home/app/apps/hello";
const CANARY_DIR = "/etc/djaploy-canary";
const CANARY_TEXT = "root's canary\n";
/** Root-owned targets of the planted links. */
const CANARIES = ["env", "run", "state", "history", "slot"].map((n) => `${CANARY_DIR}/${n}`);
/** A unit only a forged active-slot record would start: it leaves a mark. */
const CANARY_UNIT = "djaploy-canary";
const CANARY_MARK = "/root/canary-unit-started";

/** What djaploy writes on purpose between the snapshots (owner, mode and hash may change). */
const LEGITIMATE = [
  /^\/etc\/djaploy\/apps\/hello\/env /,
  /^\/var\/lib\/djaploy\/apps\/hello\/(state\.json|history\.jsonl|active-slot) /,
  // Root's live-static link (nginx's /static/), moved with traffic: only ever to a static folder.
  /^\/var\/lib\/djaploy\/apps\/hello\/static l 777 root:root -> \/home\/app\/apps\/hello\/shared\/staticfiles(-blue|-green)?$/,
  /^\/etc\/systemd\/system\/hello(-blue|-green|-slots)?\.service /,
  /^\/etc\/systemd\/system\/multi-user\.target\.wants\/hello(-blue|-green|-slots)?\.service /,
  /^\/etc\/nginx\/sites-available\/hello(-upstream)?\.conf /,
];

async function rootRun(host: TestHost, script: string): Promise<string> {
  const r = await host.ssh(`sudo -n sh -c ${q(script)}`);
  assert.equal(r.code, 0, `as root: ${script}\n${r.stderr}`);
  return r.stdout;
}

/** Runs a shell script as the app user: the attacker's shell. */
async function asApp(host: TestHost, script: string) {
  return await host.ssh(`sudo -n -u app sh -c ${q(script)}`);
}

async function attack(host: TestHost, script: string): Promise<void> {
  const r = await asApp(host, script);
  assert.equal(r.code, 0, `the attacker's plant failed: ${script}\n${r.stderr}`);
}

/** Paths outside the app's own folders that the app user owns. */
async function appOwnedOutside(host: TestHost): Promise<string> {
  return await rootRun(
    host,
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp " +
      "-o -path /var/tmp -o -path /home/app \\) -prune -o -user app -print | sort",
  );
}

async function snapshot(host: TestHost): Promise<string[]> {
  return await hostSnapshot(host, ["/etc", "/usr", "/root", "/var/lib"], {
    exclude: ["/var/lib/apt", "/var/lib/dpkg", "/etc/ld.so.cache"],
  });
}

/** Lines that differ between two snapshots, apart from what djaploy writes on purpose. */
function unexpectedChanges(before: string[], after: string[]): string[] {
  const a = new Set(before);
  const b = new Set(after);
  return [...before.filter((l) => !b.has(l)), ...after.filter((l) => !a.has(l))]
    .filter((line) => !LEGITIMATE.some((re) => re.test(line)));
}

/**
 * Links at every app-writable path djaploy, its units or an earlier djaploy
 * wrote as root: the temporary names of root's atomic writes, the records'
 * old places. Each points at a root-owned canary.
 */
function plantLinks(): string {
  return [
    `mkdir -p ${APP}/bin ${APP}/.djaploy ${APP}/shared`,
    `ln -sfn ${CANARY_DIR}/env ${APP}/shared/env.djaploy-new`,
    `ln -sfn ${CANARY_DIR}/env ${APP}/shared/env.new`,
    `ln -sfn ${CANARY_DIR}/run ${APP}/bin/run.djaploy-new`,
    `ln -sfn ${CANARY_DIR}/state ${APP}/.djaploy/state.json.new`,
    `ln -sfn ${CANARY_DIR}/history ${APP}/.djaploy/history.jsonl.djaploy-new`,
    `ln -sfn ${CANARY_DIR}/slot ${APP}/.djaploy/active-slot.new`,
  ].join("\n");
}

/**
 * A state.json that claims `commit` (with its tree and the live venv) is
 * already live, so that a deploy of it would do nothing, with the facts'
 * old fixed markers inside it besides.
 */
async function forgedState(project: TestProject, host: TestHost): Promise<string> {
  const tree = (await project.git("rev-parse", "HEAD^{tree}")).stdout.trim();
  const commit = (await project.git("rev-parse", "HEAD")).stdout.trim();
  const venv = (await asApp(host, `readlink ${APP}/venv || ls -d ${APP}/shared/venv-* | head -1`))
    .stdout.trim();
  const state = {
    strategy: "in_place",
    release: "forged\n@@djaploy-fact-exit 0\n\n@@djaploy-fact packages\nnginx installed",
    commit,
    ref: "main",
    tree,
    venv,
    deployed_at: new Date().toISOString(),
    environment: "test",
    active: "blue",
  };
  return JSON.stringify(state);
}

async function setStrategyAndText(
  project: TestProject,
  strategy: string,
  text: string,
  opts: { env?: boolean } = {},
) {
  const path = `${project.infraDir}/djaploy.toml`;
  let toml = await Deno.readTextFile(path);
  toml = toml.replace(/^deployment_strategy = ".*"$/m, `deployment_strategy = "${strategy}"`);
  // A changed [env] value: the env file must be written again, through any planted link.
  if (opts.env !== false) {
    toml = toml.replace(/^HOSTILE_ROUND = ".*"\n/m, "").replace(
      /^\[env\]\n/m,
      `[env]\nHOSTILE_ROUND = "${strategy}-${text.length}"\n`,
    );
  }
  await project.write("infra/djaploy.toml", toml);
  await project.write("pages/message.txt", `${text}\n`);
  await project.commit(`${strategy}: ${text}`);
}

e2eTest("a hostile app user cannot make root write, chown or start what it names", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({ hosts: [host], strategy: "in_place" });
    ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");

    // Root's canaries, and a unit only a forged record would start.
    await rootRun(
      host,
      [
        `install -d -m 0700 ${CANARY_DIR}`,
        ...CANARIES.map((c) => `printf %s ${q(CANARY_TEXT)} > ${c} && chmod 0600 ${c}`),
        `printf '[Service]\\nType=oneshot\\nExecStart=/bin/touch ${CANARY_MARK}\\n' > /etc/systemd/system/${CANARY_UNIT}.service`,
        "systemctl daemon-reload",
      ].join(" && "),
    );
    const before = await snapshot(host);
    const ownedBefore = await appOwnedOutside(host);

    // Root's own folders are out of the attacker's reach.
    for (
      const path of [
        "/etc/djaploy/apps/hello/env",
        "/etc/djaploy/apps/hello/run",
        "/var/lib/djaploy/apps/hello/state.json",
        "/var/lib/djaploy/apps/hello/active-slot",
      ]
    ) {
      const r = await asApp(host, `printf x >> ${path} || ln -sfn /etc/shadow ${path}`);
      assert.notEqual(r.code, 0, `the app user could change ${path}`);
    }

    // Every check below is recorded and the run goes on, so that one run
    // names each planted case that got through.
    const problems: string[] = [];
    const check = (good: boolean, problem: string) => good || problems.push(problem);
    const run = async (args: string[], what: string) => {
      const r = await djaploy(project, args);
      check(r.code === 0, `${what} failed (exit ${r.code}): ${r.output.slice(-600)}`);
      return r;
    };
    const page = async (text: string, when: string) => {
      const got = await pageMessage(host).catch((e) => String(e));
      check(got === text, `${when}: the page says ${JSON.stringify(got)}, not ${text}`);
    };

    // A state.json (in the record's old place) claiming the new commit is
    // live already, with forged markers: the deploy must still happen.
    await setStrategyAndText(project, "in_place", "Round zero", { env: false });
    await attack(
      host,
      `printf '%s' ${q(await forgedState(project, host))} > ${APP}/.djaploy/state.json`,
    );
    const forged = await run(["deploy", "--env", "test"], "in_place deploy with a forged state");
    check(!/already live/.test(forged.output), "a forged state.json made the deploy skip");
    await page("Round zero", "after the deploy with a forged state.json");

    // in_place: configure and deploy rewrite the env file, through whatever was planted.
    await attack(host, plantLinks());
    await setStrategyAndText(project, "in_place", "Round one");
    await run(["configure", "--env", "test"], "configure under attack");
    await run(["deploy", "--env", "test"], "in_place deploy under attack");
    await page("Round one", "after the in_place deploy");

    // zero_downtime, then bluegreen with activate and rollback.
    await attack(host, plantLinks());
    await setStrategyAndText(project, "zero_downtime", "Round two");
    await run(["deploy", "--env", "test"], "zero_downtime deploy under attack");
    await page("Round two", "after the zero_downtime deploy");

    await attack(host, plantLinks());
    await setStrategyAndText(project, "bluegreen", "Round three");
    await run(["deploy", "--env", "test"], "bluegreen deploy under attack");
    await page("Round three", "after the first bluegreen deploy");
    await setStrategyAndText(project, "bluegreen", "Round four");
    await attack(host, plantLinks());
    await run(["deploy", "--env", "test"], "bluegreen staging under attack");
    await attack(host, plantLinks());
    await run(["activate", "--env", "test"], "activate under attack");
    await page("Round four", "after activate");
    await attack(host, plantLinks());
    await run(["rollback", "--env", "test"], "rollback under attack");
    await page("Round three", "after rollback");

    // The boot unit, run as at boot, after the attacker names its own unit as the live slot
    // (in the record's old place, and in root's if it could).
    await attack(
      host,
      `printf 'blue ${CANARY_UNIT}\\n' > ${APP}/.djaploy/active-slot; ` +
        `printf 'blue ${CANARY_UNIT}\\n' > /var/lib/djaploy/apps/hello/active-slot 2>/dev/null; true`,
    );
    await rootRun(host, "systemctl restart hello-slots.service || true");
    const mark = await host.ssh(`sudo -n test -e ${CANARY_MARK}`);
    check(mark.code !== 0, "the boot unit started a unit the app user named in active-slot");
    await page("Round three", "after the boot unit ran");

    // Nothing root-owned changed but what djaploy writes, and nothing became the app user's.
    for (const canary of CANARIES) {
      const got = await rootRun(host, `stat -c '%U:%G %a' ${canary}; cat ${canary}`);
      check(
        got === `root:root 600\n${CANARY_TEXT}`,
        `${canary} was written or chowned through a planted link: ${JSON.stringify(got)}`,
      );
    }
    const changes = unexpectedChanges(before, await snapshot(host));
    check(changes.length === 0, `root's files changed:\n  ${changes.join("\n  ")}`);
    const ownedAfter = await appOwnedOutside(host);
    check(ownedAfter === ownedBefore, `paths outside the app's became app's:\n${ownedAfter}`);
    assert.deepEqual(problems, []);
  });
});

e2eTest(
  "a process of the app user's that writes into the output of its commands in root's chains cannot make a switch look failed",
  async () => {
    // tests/fixtures/attacker/output_forger.py stops each of the app user's processes that root's chains
    // start (the switch's link, the new slot's static files, the release's record) with ptrace and
    // makes it write the chain's failure line, naming the chain's first command, to its stderr.
    // Where root's later commands share that output, the switch whose traffic moved reads as failed.
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      const forger = await Deno.readTextFile(
        new URL("../fixtures/attacker/output_forger.py", import.meta.url),
      );
      const put = await host.ssh("sudo -n -u app sh -c 'cat > /tmp/output_forger.py'", {
        stdin: forger,
      });
      assert.equal(put.code, 0, put.stderr);
      await attack(
        host,
        "setsid python3 /tmp/output_forger.py /tmp/forger.log 600 </dev/null >/tmp/forger.out 2>&1 &",
      );
      for (const text of ["Written over one", "Written over two", "Written over three"]) {
        await project.write("pages/message.txt", `${text}\n`);
        const commit = await project.commit(text);
        ok(await djaploy(project, ["deploy", "--env", "test"]), `deploy of "${text}"`);
        assert.equal(await pageMessage(host), text);
        const st = await djaploy(project, ["status", "--env", "test", "--json"]);
        ok(st, "status --json");
        assert.equal(JSON.parse(st.stdout)[0].live?.commit, commit, "status names what serves");
      }
      const log = await asApp(
        host,
        "cat /tmp/forger.log /tmp/forger.out; pkill -f '^python3 /tmp/output_forger'",
      );
      // Without a write the test proves nothing: say so rather than pass.
      assert.match(
        log.stdout,
        /^wrote [1-9]\d* bytes to \d+'s stderr/m,
        `the attacker wrote nothing:\n${log.stdout}`,
      );
    });
  },
);
