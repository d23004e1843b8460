/**
 * What a deploy leaves on a host besides the code: the VERSION file (every
 * strategy, right after its upload) and one history record per host, on
 * success and on failure. Recorded runs, plus the remote scripts run for
 * real with /bin/sh.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { noteValue, type ReleaseInfo } from "../lib/engine/module_api.ts";
import type { RemoteCommand } from "../lib/exec/remote_command.ts";
import {
  type DeployVersion,
  VERSION_FILE_SH,
  VERSION_NOTE,
  versionFileText,
} from "../lib/deploy/version_file.ts";
import {
  HISTORY_APPEND_SH,
  type HistoryRecord,
  historyTable,
  mergeHistory,
  parseHistory,
  withHistory,
} from "../lib/host/history_records.ts";
import { UserError } from "../lib/errors.ts";
import { factsStdout, loadTestProject, withTempDir, writeFiles } from "./helpers/fixtures.ts";
import { configuredHostAnswers, deployPlan, newRelease, runRecorded } from "./helpers/plans.ts";
import type { HostPlan } from "../lib/engine/runner.ts";

const VERSION: DeployVersion = {
  version: "v1.2.4",
  commit: "abc1234def5678",
  environment: "test",
  path: "VERSION",
};

const WHO = "alice@laptop";

async function withDeploy(
  strategy: string,
  fn: (run: (opts?: { failHealth?: boolean }) => ReturnType<typeof runRecorded>) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      `project_name = "hello"\ndeployment_strategy = "${strategy}"\n[health_check]\npath = "/healthz/"\n`,
    );
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, {
      "requirements.txt": "Django==5.1\n",
      "manage.py": "#!/usr/bin/env python\n",
    });
    const release: ReleaseInfo = newRelease(artifactDir);
    const configured = await configuredHostAnswers(loaded);
    const base = await deployPlan(loaded.host, loaded.project.repo_dir);
    await fn(async (opts = {}) => {
      const plan: HostPlan = {
        ...base,
        steps: withHistory(base.steps, {
          command: "deploy",
          who: WHO,
          startedAt: performance.now(),
          mask: (t) => t.replaceAll("s3cret-value", "[REDACTED]"),
        }),
      };
      return await runRecorded({
        loaded,
        plan,
        facts: factsStdout(configured),
        release,
        notes: [noteValue(VERSION_NOTE, VERSION)],
        respond: (cmd) =>
          opts.failHealth && cmd.argv[0] === "python3"
            ? { code: 1, stderr: "/healthz/ answered HTTP 500; token=s3cret-value\n" }
            : undefined,
      });
    });
  });
}

const isVersionWrite = (cmd?: RemoteCommand) =>
  cmd?.argv[0] === "sh" && cmd.argv[2].includes("DEPLOYED_AT");
const isHistoryAppend = (cmd?: RemoteCommand) =>
  cmd?.argv[0] === "sh" && cmd.argv[2].includes('cat >> "$f"');

function historyOf(cmd: RemoteCommand): HistoryRecord {
  return JSON.parse(cmd.stdin as string);
}

Deno.test("in_place: the VERSION file is written into code/ right after the upload, kept out of rsync's --delete", async () => {
  await withDeploy("in_place", async (run) => {
    const r = await run();
    assert.equal(r.result.ok, true, r.err);
    const recorded = r.exec.recorded;
    const sync = recorded.findIndex((c) => c.kind === "sync");
    assert.deepEqual(recorded[sync].sync!.filters, ["P __pycache__/", "P /VERSION"]);
    const write = recorded[sync + 1].command!;
    assert.ok(isVersionWrite(write), recorded[sync + 1].text);
    assert.equal(write.as, "app");
    assert.equal(write.argv.at(-1), "/home/app/apps/hello/code/VERSION");
    assert.match(
      write.stdin as string,
      /^VERSION=v1\.2\.4\nCOMMIT=abc1234def5678\nDEPLOYED_AT=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nENVIRONMENT=test\n$/,
    );
    // The state records the version too (status shows it).
    const state = recorded.find((c) => c.command?.argv[4]?.endsWith("state.json"))!;
    assert.equal(JSON.parse(state.command!.stdin as string).version, "v1.2.4");
  });
});

Deno.test("zero_downtime and bluegreen: the VERSION file goes into the new release and into the slot", async () => {
  await withDeploy("zero_downtime", async (run) => {
    const r = await run();
    const write = r.exec.recorded.find((c) => isVersionWrite(c.command))!;
    assert.match(
      write.command!.argv.at(-1)!,
      /^\/home\/app\/apps\/hello\/releases\/20261126T070102Z-abc1234\/VERSION$/,
    );
  });
  await withDeploy("bluegreen", async (run) => {
    const r = await run();
    const recorded = r.exec.recorded;
    const sync = recorded.findIndex((c) => c.kind === "sync");
    assert.ok(recorded[sync].sync!.filters!.includes("P /VERSION"));
    assert.equal(
      recorded[sync + 1].command!.argv.at(-1),
      "/home/app/apps/hello/slots/blue/VERSION",
    );
  });
});

Deno.test("history: a successful deploy appends one record as its last command, no extra step", async () => {
  await withDeploy("in_place", async (run) => {
    const r = await run();
    const last = r.exec.recorded.at(-1)!.command!;
    assert.ok(isHistoryAppend(last));
    // Root's record, where the app user cannot rewrite history.
    assert.equal(last.as, "root");
    assert.equal(last.argv.at(-1), "/var/lib/djaploy/apps/hello/history.jsonl");
    assert.equal(r.exec.recorded.filter((c) => isHistoryAppend(c.command)).length, 1);
    const record = historyOf(last);
    assert.match(record.time, /^\d{4}-\d\d-\d\dT/);
    assert.equal(typeof record.duration_s, "number");
    assert.deepEqual({ ...record, time: "T", duration_s: 0 }, {
      time: "T",
      host: "web1",
      who: WHO,
      command: "deploy",
      env: "test",
      version: "v1.2.4",
      commit: "abc1234def5678",
      ref: "main",
      release: "20261126T070102Z-abc1234",
      strategy: "in_place",
      result: "ok",
      duration_s: 0,
    });
    assert.ok(!r.result.steps.some((s) => /history/.test(s.name)));
  });
});

Deno.test("history: a failed deploy appends a failed record naming the step, with a masked excerpt and no command line", async () => {
  await withDeploy("in_place", async (run) => {
    const r = await run({ failHealth: true });
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "health check");
    assert.ok(r.result.error instanceof UserError, "the step's own error is reported");
    const append = r.exec.recorded.find((c) => isHistoryAppend(c.command))!;
    const record = historyOf(append.command!);
    assert.equal(record.result, "failed");
    assert.equal(record.step, "health check");
    assert.equal(
      record.error,
      "Fix the app on web1: the health check failed: /healthz/ answered HTTP 500; token=[REDACTED]",
    );
    assert.ok(!JSON.stringify(record).includes("python3"), "no command line");
  });
});

/** Runs a remote script here, with /bin/sh, `sh -c SCRIPT sh ARGS` and stdin. */
async function runScript(
  script: string,
  args: string[],
  stdin: string,
  code: number | "failure" = 0,
): Promise<string> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (code === "failure") assert.notEqual(out.code, 0, stderr);
  else assert.equal(out.code, code, stderr);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("VERSION script: writes the file; the same version and commit leave it (and DEPLOYED_AT) alone", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "sub", "VERSION");
    const write = (text: string) => runScript(VERSION_FILE_SH, [path], text);
    const first = versionFileText(VERSION, new Date("2026-11-26T07:01:02.345Z"));
    assert.equal(
      first,
      "VERSION=v1.2.4\nCOMMIT=abc1234def5678\nDEPLOYED_AT=2026-11-26T07:01:02Z\nENVIRONMENT=test\n",
    );
    assert.equal(await write(first), "written");
    assert.equal(await Deno.readTextFile(path), first);
    const later = versionFileText(VERSION, new Date("2026-12-01T00:00:00Z"));
    assert.equal(await write(later), "unchanged");
    assert.equal(await Deno.readTextFile(path), first, "DEPLOYED_AT of the first deploy stays");
    const next = versionFileText(
      { ...VERSION, version: "v1.2.5" },
      new Date("2026-12-01T00:00:00Z"),
    );
    assert.equal(await write(next), "written");
    assert.equal(await Deno.readTextFile(path), next);
    // Replaced, not rewritten in place: a hard link (zero_downtime's unchanged files) keeps its content.
    await Deno.link(path, join(dir, "linked"));
    await write(versionFileText({ ...VERSION, version: "v1.2.6" }, new Date()));
    assert.equal(await Deno.readTextFile(join(dir, "linked")), next);
  });
});

Deno.test("history script: appends JSON lines; past 2000 lines it keeps the newest 1000", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, ".djaploy", "history.jsonl");
    await runScript(HISTORY_APPEND_SH, [path], '{"n":1}\n');
    await runScript(HISTORY_APPEND_SH, [path], '{"n":2}\n');
    assert.equal(await Deno.readTextFile(path), '{"n":1}\n{"n":2}\n');
    const many = Array.from({ length: 1999 }, (_, i) => `{"n":${i + 3}}`).join("\n") + "\n";
    await runScript(HISTORY_APPEND_SH, [path], many);
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    assert.equal(lines.length, 1000);
    assert.equal(lines.at(-1), '{"n":2001}');
  });
});

Deno.test("history script: a record it cannot append fails it (djaploy then warns), where it once exited 0", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.jsonl");
    await Deno.mkdir(path); // not a file: nothing can be appended
    await runScript(HISTORY_APPEND_SH, [path], '{"n":1}\n', "failure");
    await Deno.writeTextFile(join(dir, "file"), "");
    await runScript(
      HISTORY_APPEND_SH,
      [join(dir, "file", "history.jsonl")],
      '{"n":1}\n',
      "failure",
    );
  });
});

const rec = (time: string, host: string, extra: Partial<HistoryRecord> = {}): HistoryRecord => ({
  time,
  host,
  who: WHO,
  command: "deploy",
  env: "test",
  version: "v1.2.4",
  commit: "abc1234def5678",
  strategy: "in_place",
  result: "ok",
  duration_s: 12.3,
  ...extra,
});

Deno.test("history: parse skips torn lines; merge sorts newest first across hosts; the table", () => {
  assert.deepEqual(
    parseHistory(
      `${JSON.stringify(rec("2026-01-01T00:00:00.000Z", "web1"))}\n{"time":\n\nnot json\n`,
    ),
    [rec("2026-01-01T00:00:00.000Z", "web1")],
  );
  const merged = mergeHistory([
    [rec("2026-01-01T00:00:00.000Z", "web1"), rec("2026-01-03T00:00:00.000Z", "web1")],
    [rec("2026-01-02T00:00:00.000Z", "web2", { result: "failed", step: "health check" })],
  ], 2);
  assert.deepEqual(merged.map((r) => `${r.time.slice(0, 10)} ${r.host}`), [
    "2026-01-03 web1",
    "2026-01-02 web2",
  ]);
  assert.deepEqual(historyTable(merged), [
    "time (UTC)            host  command  version  commit   result                  took   who",
    "2026-01-03 00:00:00Z  web1  deploy   v1.2.4   abc1234  ok                      12.3s  alice@laptop",
    "2026-01-02 00:00:00Z  web2  deploy   v1.2.4   abc1234  failed at health check  12.3s  alice@laptop",
  ]);
});
