import assert from "node:assert/strict";
import { join } from "node:path";
import type { ReleaseInfo } from "../../lib/module.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import {
  configuredHostAnswers,
  deployPlan,
  runRecorded,
  unitsShowOutput,
} from "../helpers/plans.ts";

const DJAPLOY_TOML = `project_name = "hello"
deployment_strategy = "zero_downtime"

[health_check]
path = "/healthz/"
`;

/**
 * A run was killed after it moved the live link to green but before it wrote
 * state.json, which still says blue. The next deploy must take the link's
 * word: green serves, so the new release starts in blue, and green is not
 * restarted under its visitors.
 */
Deno.test("zero_downtime: the live link, not a stale state.json, decides which slot serves", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, DJAPLOY_TOML);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = {
      name: "20261126T070102Z-abc1234",
      artifactDir,
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-new",
    };
    const stale = {
      strategy: "zero_downtime",
      release: "r1",
      commit: "c1",
      ref: "main",
      tree: "tree-old",
      venv: "/v",
      deployed_at: "2026-11-26T00:00:00Z",
      environment: "test",
      active: "blue",
      slots: {
        blue: { state: "active", release: "r1" },
        green: { state: "staged", release: "r2" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(stale) },
        "live-socket": { out: "/run/hello-green/hello.sock\n" },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": "enabled inactive",
            "hello-green.service": "enabled active",
          }),
        },
        // The run before stopped blue moments ago and its drain is still pending.
        "drain-units": {
          out: "djaploy-drain-hello-blue-rmx1.service loaded active running /bin/sh -c ...\n",
        },
      }),
      release,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines().join("\n");
    assert.match(lines, /systemctl restart hello-blue\.service/, "the new release starts in blue");
    assert.doesNotMatch(
      lines,
      /systemctl restart hello-green\.service/,
      "the serving slot is left alone",
    );
    assert.match(
      lines,
      /\/run\/djaploy\/hello\.sock \/run\/hello-blue\/hello\.sock/,
      "traffic moves to blue",
    );
    // That drain would stop the release this run starts in blue.
    const recorded = r.exec.lines();
    const cancel = recorded.findIndex((l) =>
      l.endsWith("systemctl stop -- djaploy-drain-hello-blue-rmx1.service")
    );
    const restart = recorded.findIndex((l) => l.endsWith("systemctl restart hello-blue.service"));
    assert.ok(cancel >= 0 && cancel < restart, "a pending drain of blue is cancelled first");
  });
});

/**
 * No health endpoint configured: the new slot is still probed, at `/`,
 * where any 2xx or 3xx counts. A 400 fails at once: traffic does not move,
 * and the error replays the request in the slot's code and names the slot's unit.
 */
Deno.test("zero_downtime: with no path configured, / is probed before traffic moves; a 400 keeps traffic where it is", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\ndeployment_strategy = "zero_downtime"\n',
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = {
      name: "20261126T070102Z-abc1234",
      artifactDir,
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-new",
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release,
      respond: (cmd) =>
        cmd.argv[0] === "python3" && cmd.argv[2].startsWith("import re, socket")
          ? {
            code: 1,
            stderr: "GET / with Host: 10.0.0.1 answered HTTP 400 (Bad Request) after 1 try, " +
              "expected HTTP 200-399\n",
          }
          : undefined,
    });
    assert.equal(r.result.ok, false);
    const lines = r.exec.lines();
    const probe = lines.find((l) => l.startsWith("python3 -c 'import re, socket"));
    assert.equal(
      probe,
      "python3 -c 'import re, socket, sys, time…' /run/hello-blue/hello.sock / 10.0.0.1 200-399 100 0.1",
    );
    assert.ok(!lines.some((l) => l.includes("/run/djaploy/hello.sock")), "traffic did not move");
    const err = r.result.error as Error & { hint?: string };
    assert.match(err.message, /with Host: 10\.0\.0\.1 answered HTTP 400/);
    assert.match(err.message, /add "10\.0\.0\.1" to ALLOWED_HOSTS/);
    assert.equal(err.hint, "See the app's log: journalctl -u hello-blue.service -n 50");
    const diagnosis = lines.find((l) => l.includes("timeout 60"))!;
    assert.match(
      diagnosis,
      /^sudo -n -H -u app -- env -C \/home\/app\/apps\/hello\/slots\/blue timeout 60 \/etc\/djaploy\/apps\/hello\/run \/home\/app\/apps\/hello\/shared\/venv-[0-9a-f]+-py3\.11\/bin\/python manage\.py shell -c /,
    );
  });
});

Deno.test("zero_downtime: [health_check] enabled = false is the one way to move traffic unchecked", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\ndeployment_strategy = "zero_downtime"\n[health_check]\nenabled = false\n',
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout(await configuredHostAnswers(loaded)),
      release: { name: "r1", artifactDir, commit: "abc", ref: "main", tree: "t" },
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.ok(!r.exec.lines().some((l) => l.startsWith("python3 -c 'import re, socket")));
  });
});

Deno.test("zero_downtime: after the switch, old releases go and so do the virtualenvs no kept release uses", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, "keep_releases = 2\n" + DJAPLOY_TOML);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = {
      name: "20261126T070102Z-abc1234",
      artifactDir,
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-new",
    };
    const shared = "/home/app/apps/hello/shared";
    const venv = (c: string) => `${shared}/venv-${c.repeat(16)}-py3.11`;
    const rec = (name: string, v: string) => ({
      release: name,
      commit: "c",
      ref: "main",
      tree: `tree-${name}`,
      venv: v,
      deployed_at: "2026-11-20T00:00:00Z",
      environment: "test",
    });
    const releases = [
      ["20261120T000000Z-0000001", venv("a")],
      ["20261121T000000Z-0000002", venv("b")],
      ["20261122T000000Z-0000003", venv("c")],
    ].map(([n, v]) => `${n}\t${JSON.stringify(rec(n, v))}`).join("\n");
    const live = {
      strategy: "zero_downtime",
      ...rec("20261122T000000Z-0000003", venv("c")),
      active: "blue",
      slots: {
        blue: { ...rec("20261122T000000Z-0000003", venv("c")), state: "active" },
        green: { ...rec("20261121T000000Z-0000002", venv("b")), state: "stopped" },
      },
    };
    const r = await runRecorded({
      loaded,
      plan: await deployPlan(loaded.host, loaded.project.repo_dir),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(live) },
        "live-socket": { out: "/run/hello-blue/hello.sock\n" },
        "current-link": { out: "/home/app/apps/hello/releases/20261122T000000Z-0000003\n" },
        "releases": { out: releases + "\n" },
        // d: a build of a lock file no release kept (a failed deploy's).
        "venvs": { out: [venv("a"), venv("b"), venv("c"), venv("d")].join("\n") + "\n" },
      }),
      release,
    });
    assert.equal(r.result.ok, true, String(r.result.error));
    const lines = r.exec.lines();
    const releasesDir = "/home/app/apps/hello/releases";
    const rmReleases = lines.findIndex((l) => l.includes(`rm -rf -- ${releasesDir}/`));
    const rmVenvs = lines.findIndex((l) => l.includes(`rm -rf -- ${shared}/`));
    assert.ok(rmReleases >= 0 && rmVenvs > rmReleases, lines.join("\n"));
    // keep_releases = 2: the new one and 0000003 (live until now) stay, with their venvs.
    assert.match(
      lines[rmReleases],
      new RegExp(
        `rm -rf -- ${releasesDir}/20261120T000000Z-0000001 ${releasesDir}/20261121T000000Z-0000002$`,
      ),
    );
    assert.ok(
      lines[rmVenvs].endsWith(`rm -rf -- ${venv("a")} ${venv("b")} ${venv("d")}`),
      lines[rmVenvs],
    );
    // One round trip with the switch, as the app user, after traffic moved.
    const switched = lines.findIndex((l) => l.includes("/run/hello-green/hello.sock"));
    assert.ok(switched >= 0 && switched <= rmVenvs);
    assert.match(lines[rmVenvs], /-u app /);
  });
});
