/**
 * Parts of djaploy's own CPU per host, measured without test hosts
 * (docs/benchmarks.md): what a fleet deploy repeats for each host, apart.
 * Each figure is djaploy's process CPU (user + system, all its threads),
 * median of 7 rounds, divided by the hosts or processes of a round:
 *
 * - steps: a one-line-change deploy's steps for one host (zero_downtime,
 *   green live), as JavaScript alone: the unit tests' recording executor,
 *   answering the facts as a host would; 32 hosts at once, after a warm-up;
 * - dependency plan: 32 hosts planning the dependencies of one artifact
 *   whose uv.lock has 1,500 packages (about 370 kB);
 * - a process: 64 `sh` started at once, stdout and stderr read whole (as
 *   djaploy runs ssh), and the same with Deno.Command's output() and with
 *   no pipes at all.
 *
 * Not a test: it measures.
 *
 *   "$(scripts/deno.sh)" run -A scripts/bench_parts.ts
 */
import { join } from "node:path";
import { dependencyPlan } from "../lib/deploy/dependencies.ts";
import type { HostConfig } from "../lib/config/types.ts";
import {
  type LoadedProject,
  loadTestProject,
  withTempDir,
  writeFiles,
} from "../tests/helpers/fixtures.ts";
import { deployPlan, greenServesFacts, newRelease, runRecorded } from "../tests/helpers/plans.ts";

const ROUNDS = 7;

/** Median over ROUNDS of `round`'s CPU in ms, divided by `per`. */
async function measure(per: number, round: (i: number) => Promise<unknown>): Promise<string> {
  const figures: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const before = process.cpuUsage();
    await round(i);
    const used = process.cpuUsage(before);
    figures.push((used.user + used.system) / 1000 / per);
  }
  figures.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  return `${f(figures[(ROUNDS - 1) / 2])} ms (${f(figures[0])}-${f(figures[ROUNDS - 1])})`;
}

const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

/** A one-line change on a host where green serves the release before. */
async function deployOneHost(dir: string, loaded: LoadedProject): Promise<void> {
  const r = await runRecorded({
    loaded,
    plan: await deployPlan(loaded.host, loaded.project.repo_dir),
    facts: await greenServesFacts(loaded, "zero_downtime"),
    release: newRelease(join(dir, "artifact")),
  });
  if (!r.result.ok) throw new Error(`the recorded deploy failed: ${r.result.error}`);
}

function uvLock(packages: number): string {
  const hex = (i: number) => i.toString(16).padStart(8, "0").repeat(8);
  return Array.from(
    { length: packages },
    (_, i) =>
      `[[package]]\nname = "pkg${i}"\nversion = "1.${i}"\n` +
      `source = { registry = "https://pypi.org/simple" }\n` +
      `wheels = [{ url = "https://files.example/pkg${i}.whl", hash = "sha256:${
        hex(i)
      }", size = ${i} }]\n`,
  )
    .join("\n");
}

await withTempDir(async (dir) => {
  const loaded = await loadTestProject(
    dir,
    'project_name = "hello"\ndeployment_strategy = "zero_downtime"\n[health_check]\npath = "/healthz/"\n',
  );
  await writeFiles(join(dir, "artifact"), { "requirements.txt": "Django\n", "manage.py": "" });
  for (let i = 0; i < 20; i++) await deployOneHost(dir, loaded);
  out(
    `steps of a one-line change, per host: ${await measure(
      32,
      () => Promise.all(Array.from({ length: 32 }, () => deployOneHost(dir, loaded))),
    )}`,
  );

  const lock = uvLock(1500);
  const uv: HostConfig = {
    ...loaded.host,
    dependencies: { ...loaded.host.dependencies, manager: "uv" },
  };
  // Each round its own artifact: a run plans an artifact's dependencies once.
  for (let round = 0; round < ROUNDS; round++) {
    await writeFiles(join(dir, `uv-${round}`), {
      "uv.lock": lock,
      "pyproject.toml": "[project]\n",
    });
  }
  out(
    `dependency plan, uv.lock of ${Math.round(lock.length / 1000)} kB, per host: ${await measure(
      32,
      async (round) => {
        const artifact = join(dir, `uv-${round}`);
        await Promise.all(
          Array.from(
            { length: 32 },
            (_, i) => dependencyPlan({ ...uv, name: `web${i}` }, artifact),
          ),
        );
      },
    )}`,
  );
});

const args = ["-c", "echo out; echo err >&2"];
const many = (f: () => Promise<unknown>) => () => Promise.all(Array.from({ length: 64 }, f));
const piped = { args, stdin: "null", stdout: "piped", stderr: "piped" } as const;
await many(() => new Deno.Command("sh", piped).output())();
out(
  `a process, stdout and stderr read whole: ${await measure(
    64,
    many(async () => {
      const child = new Deno.Command("sh", piped).spawn();
      await Promise.all([child.stdout.text(), child.stderr.text(), child.status]);
    }),
  )}`,
);
out(
  `a process, Deno.Command output(): ${await measure(
    64,
    many(() => new Deno.Command("sh", piped).output()),
  )}`,
);
out(
  `a process, no pipes: ${await measure(
    64,
    many(() =>
      new Deno.Command("sh", { args, stdin: "null", stdout: "null", stderr: "null" }).spawn().status
    ),
  )}`,
);
