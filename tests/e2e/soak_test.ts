/**
 * End to end, a soak: one-line-change deploys back to back on four hosts, no
 * pause between them, as a team shipping fixes would, under HTTP load on one
 * host. After every deploy each host serves the new page, and the records
 * agree: `status --json` (live release and commit) and root's state.json name
 * the commit that serves. No deploy fails, no request fails.
 *
 * !!! By default each strategy runs SOAK_DEPLOYS_DEFAULT (6) deploys, to keep
 * CI within its time limit. The full soak of 20 deploys per strategy runs
 * with DJAPLOY_E2E_SLOW=1 (or DJAPLOY_SOAK_DEPLOYS=N); docs/benchmarks.md
 * records its figures.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  failedRequests,
  formatLoad,
  type LoadResult,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
  withLoad,
} from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";

const SLOW = Deno.env.get("DJAPLOY_E2E_SLOW") === "1";
const SOAK_DEPLOYS_DEFAULT = 6;
const DEPLOYS = Number(Deno.env.get("DJAPLOY_SOAK_DEPLOYS") ?? (SLOW ? 20 : SOAK_DEPLOYS_DEFAULT));
/** Says in the test's name when this is the short soak. */
const SHORT = DEPLOYS < 20 ? " (SHORT soak: DJAPLOY_E2E_SLOW=1 runs 20)" : "";
const HOSTS = ["web-1", "web-2", "web-3", "web-4"];
/**
 * Deploys per run of wrk (which runs at most 120 s): a deploy and its checks take 11-22 s on 4
 * hosts here, up to 38 s would fit.
 */
const LOAD_CHUNK = 3;
const STATE_JSON = "/var/lib/djaploy/apps/hello/state.json";

interface HostStatus {
  host: string;
  live?: { release: string; commit: string };
  active_slot?: string;
  current?: string;
}

interface Records {
  /** Per host: what `status --json` says is live. */
  status: Map<string, HostStatus>;
  /** Per host: root's state.json. */
  state: Map<string, { release: string; commit: string; active?: string }>;
}

async function records(project: TestProject, hosts: readonly TestHost[]): Promise<Records> {
  const [st, ...files] = await Promise.all([
    djaploy(project, ["status", "--env", "test", "--json"]),
    ...hosts.map((h) => h.ssh(`sudo -n cat ${STATE_JSON}`)),
  ]);
  ok(st, "status --json");
  const status = new Map((JSON.parse(st.stdout) as HostStatus[]).map((s) => [s.host, s]));
  const state = new Map(hosts.map((h, i) => {
    assert.equal(files[i].code, 0, `${h.name}: cat ${STATE_JSON}: ${files[i].stderr}`);
    return [h.name, JSON.parse(files[i].stdout)];
  }));
  return { status, state };
}

/** The figures of several wrk runs as one. */
function sumLoads(loads: readonly LoadResult[]): LoadResult {
  const sum = (f: (l: LoadResult) => number) => loads.reduce((n, l) => n + f(l), 0);
  return {
    requests: sum((l) => l.requests),
    seconds: sum((l) => l.seconds),
    non2xx: sum((l) => l.non2xx),
    socketErrors: {
      connect: sum((l) => l.socketErrors.connect),
      read: sum((l) => l.socketErrors.read),
      write: sum((l) => l.socketErrors.write),
      timeout: sum((l) => l.socketErrors.timeout),
    },
    // The worst of the runs.
    latencyMs: {
      p50: Math.max(...loads.map((l) => l.latencyMs.p50)),
      p75: Math.max(...loads.map((l) => l.latencyMs.p75)),
      p90: Math.max(...loads.map((l) => l.latencyMs.p90)),
      p99: Math.max(...loads.map((l) => l.latencyMs.p99)),
    },
    output: loads.map((l) => l.output).join("\n"),
  };
}

async function soak(strategy: "zero_downtime" | "bluegreen", deployArgs: string[]) {
  await withHosts(HOSTS, async (hosts) => {
    const project = await makeProject({ hosts, strategy });
    ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
    ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");

    const checkMs: number[] = [];
    /** Deploy `i`: one line changes; then every host serves it and every record names it. */
    const deployAndCheck = async (i: number): Promise<number> => {
      const text = `Soak ${strategy} ${i}`;
      await project.write("pages/message.txt", `${text}\n`);
      const commit = await project.commit(text);
      const r = await djaploy(project, ["deploy", "--env", "test", ...deployArgs]);
      ok(r, `deploy ${i} of ${DEPLOYS}`);
      const t = performance.now();
      const [pages, rec] = await Promise.all([
        Promise.all(hosts.map(pageMessage)),
        records(project, hosts),
      ]);
      for (const [h, host] of hosts.entries()) {
        const where = `${host.name} after deploy ${i}`;
        assert.equal(pages[h], text, `${where}: serves the new page`);
        const st = rec.status.get(host.name);
        assert.equal(st?.live?.commit, commit, `${where}: status names the commit that serves`);
        assert.match(st!.live!.release, new RegExp(`-${commit.slice(0, 7)}$`));
        const state = rec.state.get(host.name)!;
        assert.equal(state.commit, commit, `${where}: root's state.json names what serves`);
        assert.equal(state.release, st!.live!.release, `${where}: state.json and status agree`);
        assert.equal(state.active, st!.active_slot, `${where}: the active slot agrees`);
        if (strategy === "zero_downtime") {
          assert.equal(st!.current, st!.live!.release, `${where}: current is the live release`);
        }
      }
      checkMs.push(performance.now() - t);
      return r.ms;
    };

    const ms: number[] = [];
    const loads: LoadResult[] = [];
    // wrk runs at most 120 s at a time: the load restarts every LOAD_CHUNK deploys.
    for (let first = 1; first <= DEPLOYS; first += LOAD_CHUNK) {
      const last = Math.min(first + LOAD_CHUNK - 1, DEPLOYS);
      const { value, load } = await withLoad(`http://${hosts[0].ip}/`, async () => {
        const times: number[] = [];
        for (let i = first; i <= last; i++) times.push(await deployAndCheck(i));
        return times;
      }, { warmupMs: 500, cooldownMs: 500 });
      assert.ok(load.seconds < 115, `the load ended before the deploys did:\n${load.output}`);
      ms.push(...value);
      loads.push(load);
    }
    const load = sumLoads(loads);
    const sorted = [...ms].sort((a, b) => a - b);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // deno-lint-ignore no-console
    console.log(
      `soak: ${strategy}, ${DEPLOYS} deploys on ${hosts.length} hosts back to back: ` +
        `median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms, ` +
        `total ${ms.reduce((a, b) => a + b, 0)} ms; checks between deploys median ${
          Math.round(median(checkMs))
        } ms; ${formatLoad(strategy, load)}`,
    );
    assert.equal(failedRequests(load), 0, `requests failed under load:\n${load.output}`);
    assert.ok(load.requests >= 200, `too few requests to prove anything:\n${load.output}`);
  });
}

e2eTest(
  `soak: zero_downtime, ${DEPLOYS} one-line deploys back to back on 4 hosts under load${SHORT}`,
  () => soak("zero_downtime", []),
);

e2eTest(
  `soak: bluegreen, ${DEPLOYS} one-line deploy --activate back to back on 4 hosts under load${SHORT}`,
  () => soak("bluegreen", ["--activate"]),
);
