/**
 * The floor under djaploy's own CPU per host (docs/benchmarks.md): what
 * its connection to a host costs with no step at all. Boots HOSTS test
 * hosts (default 32), then ROUNDS times (default 5), for the first host
 * alone and for all of them, 8 at a time as a deploy goes, through
 * djaploy's own ssh executor: starts the master, holds one shell through
 * it as root (the shape of the deploy lock's shell), sends ROUND_TRIPS
 * lines and reads each answer, ends the shell and closes the master.
 * Prints djaploy's process CPU (user + system, all its threads) per extra
 * host, median (range). Not a test: it measures.
 *
 *   "$(scripts/deno.sh)" run -A scripts/bench_floor.ts [HOSTS] [ROUND_TRIPS] [ROUNDS]
 */
import { join } from "node:path";
import { withHosts } from "../tests/e2e/harness.ts";
import { loadTestProject } from "../tests/helpers/fixtures.ts";
import { SshExecutor } from "../lib/exec/ssh.ts";
import { Limiter } from "../lib/exec/limiter.ts";
import type { HostConfig } from "../lib/config/types.ts";

const [hostCount, roundTrips, rounds] = [32, 3, 5].map((d, i) => Number(Deno.args[i] ?? d));
const PARALLEL = 8;
/** Answers each line it reads with "ok LINE" (as root, as the lock's shell runs). */
const ECHO_SHELL = 'while read -r line; do echo "ok $line"; done';

const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

/** Caps connection starts across hosts, as a deploy's does. */
const startLimiter = new Limiter(PARALLEL);

async function oneHost(host: HostConfig, controlDir: string, index: number): Promise<void> {
  const exec = new SshExecutor(host, { controlDir, socketName: `f${index}`, startLimiter });
  await exec.connect();
  const shell = await exec.hold({ argv: ["bash", "-c", ECHO_SHELL], as: "root" });
  for (let i = 0; i < roundTrips; i++) {
    await shell.write(`${i}\n`);
    const answer = await shell.readLine();
    if (answer !== `ok ${i}`) throw new Error(`${host.name}: expected "ok ${i}", got ${answer}`);
  }
  const ended = await shell.end();
  if (ended.code !== 0) throw new Error(`${host.name}: the shell ended ${ended.code}`);
  await exec.close();
}

/** djaploy's CPU in ms for one pass over `hosts`, PARALLEL at a time. */
async function pass(hosts: readonly HostConfig[], controlDir: string): Promise<number> {
  const before = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < hosts.length) {
      const i = next++;
      await oneHost(hosts[i], controlDir, i);
    }
  }));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const names = Array.from({ length: hostCount }, (_, i) => `web-${i + 1}`);
await withHosts(names, async (testHosts) => {
  const dir = await Deno.makeTempDir({ prefix: "djaploy-floor-" });
  try {
    // JSON strings are valid TOML basic strings.
    const toml = JSON.stringify;
    const inventory = testHosts.map((h) =>
      `[[hosts]]\nname = ${toml(h.name)}\nssh_hostname = ${toml(h.ip)}\nssh_key = ${
        toml(h.key)
      }\n` +
      `known_hosts_file = ${toml(join(dir, "known_hosts"))}\n`
    ).join("\n");
    const { env } = await loadTestProject(
      dir,
      'project_name = "floor"\napp_user = "app"\nssh_user = "deploy"\n',
      inventory,
    );
    const controlDir = join(dir, "s");
    await Deno.mkdir(controlDir, { mode: 0o700 });
    await pass(env.hosts, controlDir); // warm-up: host keys learnt, code compiled
    const perHost: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const one = await pass(env.hosts.slice(0, 1), controlDir);
      const all = await pass(env.hosts, controlDir);
      perHost.push((all - one) / (env.hosts.length - 1));
      out(
        `round ${r + 1}: 1 host ${one.toFixed(1)} ms, ${env.hosts.length} hosts ${
          all.toFixed(1)
        } ms`,
      );
    }
    perHost.sort((a, b) => a - b);
    const f = (x: number) => x.toFixed(1);
    out(
      `${roundTrips} round trips: ${f(perHost[Math.floor((rounds - 1) / 2)])} ms per extra host ` +
        `(${f(perHost[0])}-${f(perHost[rounds - 1])}), median of ${rounds}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
