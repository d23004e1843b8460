/**
 * What asking Django "does the database need migrate?" costs on a real test
 * host (docs/benchmarks.md): boots one host, deploys examples/hello, then
 * runs on the host itself, as the app user with its environment, 11 times
 * each and reports the median wall time and CPU (user + system) of:
 * Python starting, djaploy's migrate check (MIGRATE_AND_COLLECTSTATIC_PY
 * with migrate "check" and no collectstatic), and `manage.py migrate` with
 * nothing to do. Not a test: it measures.
 *
 *   "$(scripts/deno.sh)" run -A scripts/bench_migrate_check.ts
 */
import { djaploy, makeProject, withHosts } from "../tests/e2e/harness.ts";
import { MIGRATE_AND_COLLECTSTATIC_PY } from "../templates/scripts.ts";

const MEASURE_PY = `import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f %.3f" % (time.monotonic() - t, r.ru_utime + r.ru_stime))
`;

const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

await withHosts(["web-1"], async ([host]) => {
  const project = await makeProject({ hosts: [host] });
  for (const command of ["configure", "deploy"]) {
    const r = await djaploy(project, [command, "--env", "test"]);
    if (r.code !== 0) throw new Error(r.output);
  }
  const check = MIGRATE_AND_COLLECTSTATIC_PY.replace("MIGRATE = True", 'MIGRATE = "check"')
    .replace("COLLECTSTATIC = True", "COLLECTSTATIC = False");
  await host.ssh("cat > /tmp/check.py && chmod 644 /tmp/check.py", { stdin: check });
  await host.ssh("cat > /tmp/measure.py", { stdin: MEASURE_PY });
  const run = "/etc/djaploy/apps/hello/run /home/app/apps/hello/venv/bin/python";
  const rows: [string, string][] = [
    ["Python start-up (`python -c pass`)", `${run} -c pass`],
    [
      "djaploy's migrate check, nothing to migrate",
      `${run} manage.py shell -c "$(cat /tmp/check.py)"`,
    ],
    ["`manage.py migrate`, nothing to migrate", `${run} manage.py migrate`],
  ];
  out("| What (median of 11, on the host) | Wall | CPU |\n| --- | --- | --- |");
  for (const [name, cmd] of rows) {
    const r = await host.ssh(
      `cd /home/app/apps/hello/code && for i in $(seq 11); do python3 /tmp/measure.py sudo -n -u app sh -c '${cmd}' >> /tmp/t || exit 1; done; ` +
        `echo "$(cut -d' ' -f1 /tmp/t | sort -n | sed -n 6p) $(cut -d' ' -f2 /tmp/t | sort -n | sed -n 6p)"; rm -f /tmp/t`,
    );
    if (r.code !== 0) throw new Error(`${name}: ${r.stderr}`);
    const [wall, cpu] = r.stdout.trim().split(" ");
    out(`| ${name} | ${wall} s | ${cpu} s |`);
  }
});
