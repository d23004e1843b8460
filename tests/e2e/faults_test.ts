/**
 * End to end, the fault matrix (docs/faults.md): for each phase of a
 * zero_downtime and a bluegreen deploy (upload, dependencies, migrate, start
 * new release, switch, cleanup), a fault when the phase starts: djaploy
 * killed with SIGKILL, the host's network cut for 8 s or for good, sshd
 * restarted, the host rebooted, the app's filesystem full. After each: the
 * site serves the previous or the new release, `status --json` names it, no
 * `unlock` is needed and the next plain deploy succeeds (tests/e2e/faults/matrix.ts).
 *
 * Four hosts run at once, each through its cells in turn. The network cut for
 * good costs djaploy's real timeout (ssh's ServerAlive, 45 s) per cell: one
 * phase per strategy by default, every phase with DJAPLOY_E2E_SLOW=1.
 * DJAPLOY_FAULTS_REPORT=FILE writes the matrix's rows there as well.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, type TestHost, withHosts } from "./harness.ts";
import {
  type Bench,
  type CellResult,
  closeControl,
  type Fault,
  formatCells,
  type Phase,
  PHASES,
  runCell,
  setUpBench,
  type Strategy,
} from "./faults/matrix.ts";

const SLOW = Deno.env.get("DJAPLOY_E2E_SLOW") === "1";
const REPORT = Deno.env.get("DJAPLOY_FAULTS_REPORT");
/** DJAPLOY_FAULTS=kill,sshd: only these faults (while working on one). */
const ONLY = Deno.env.get("DJAPLOY_FAULTS")?.split(",");

type Cell = readonly [Phase, Fault];

function cells(faults: readonly Fault[], phases: readonly Phase[] = PHASES): Cell[] {
  return faults.filter((f) => !ONLY || ONLY.includes(f)).flatMap((fault) =>
    phases.map((phase) => [phase, fault] as const)
  );
}

interface Plan {
  readonly strategy: Strategy;
  readonly persistent: boolean;
  readonly cells: readonly Cell[];
}

const NET_DOWN_PHASES: readonly Phase[] = SLOW ? PHASES : ["migrate"];

const PLANS: readonly Plan[] = (["zero_downtime", "bluegreen"] as const).flatMap((strategy) => [
  {
    strategy,
    persistent: false,
    cells: cells(["kill", "net-blip", "sshd", "disk-full"]),
  },
  {
    strategy,
    persistent: true,
    cells: [...cells(["reboot"]), ...cells(["net-down"], NET_DOWN_PHASES)],
  },
]).filter((plan) => plan.cells.length > 0);

/** Runs a plan's cells on its host; a failed cell is recorded and the host is brought back. */
async function runPlan(host: TestHost, plan: Plan, failures: string[]): Promise<CellResult[]> {
  const diskFull = plan.cells.some(([, fault]) => fault === "disk-full");
  const bench: Bench = await setUpBench(host, plan.strategy, { diskFull });
  const results: CellResult[] = [];
  try {
    await runCells(bench, plan, results, failures);
  } finally {
    await closeControl(host);
  }
  return results;
}

async function runCells(bench: Bench, plan: Plan, results: CellResult[], failures: string[]) {
  for (const [phase, fault] of plan.cells) {
    const started = performance.now();
    try {
      results.push(await runCell(bench, phase, fault));
    } catch (err) {
      failures.push(`${plan.strategy} ${fault} at ${phase}: ${err}`);
      // The cells after it start from whatever serves now: the records say which.
      await recover(bench);
    }
    // deno-lint-ignore no-console
    console.log(
      `faults: ${plan.strategy} ${fault} at ${phase}: ${
        Math.round(performance.now() - started)
      } ms`,
    );
  }
}

async function recover(bench: Bench): Promise<void> {
  await bench.host.ssh("sudo -n rm -f /home/app/apps/hello/fill");
  const args = [
    "deploy",
    "--env",
    "test",
    ...(bench.strategy === "bluegreen" ? ["--activate"] : []),
  ];
  const r = await djaploy(bench.project, args);
  const head = (await bench.project.git("rev-parse", "HEAD")).stdout.trim();
  const message = (await Deno.readTextFile(`${bench.project.dir}/pages/message.txt`)).trim();
  if (r.code === 0) bench.live = { message, commit: head };
}

e2eTest(
  "faults: at every phase of a zero_downtime and a bluegreen deploy, each fault leaves a serving site, true records, no lock, and a next deploy that succeeds",
  async () => {
    const names = PLANS.map((p, i) => `${p.strategy}-${p.persistent ? "disk" : "mem"}-${i}`);
    const persistent = PLANS.filter((p) => p.persistent);
    const volatile = PLANS.filter((p) => !p.persistent);
    const failures: string[] = [];
    const all: CellResult[] = [];
    const started = performance.now();
    // Volatile and persistent hosts boot in two withHosts calls, both at once.
    const group = (plans: readonly Plan[], opts: { persistent: boolean }) =>
      plans.length === 0 ? Promise.resolve() : withHosts(
        plans.map((p) => names[PLANS.indexOf(p)]),
        async (hosts) => {
          const results = await Promise.all(
            plans.map((plan, i) => runPlan(hosts[i], plan, failures)),
          );
          all.push(...results.flat());
        },
        opts,
      );
    await Promise.all([
      group(volatile, { persistent: false }),
      group(persistent, { persistent: true }),
    ]);
    const table = formatCells(all);
    const wall = `${all.length} cells in ${Math.round((performance.now() - started) / 1000)} s`;
    // deno-lint-ignore no-console
    console.log(`${table}\n${wall}`);
    if (REPORT) await Deno.writeTextFile(REPORT, `${table}\n\n${wall}\n`);
    assert.deepEqual(failures, [], `cells failed:\n${failures.join("\n\n")}`);
  },
);
