import assert from "node:assert/strict";
import { LiveStatus } from "../lib/output/live_status.ts";
import { Ui } from "../lib/output/ui.ts";
import { runOnHosts } from "../lib/engine/runner.ts";
import { RecordingExecutor } from "../lib/exec/recording_executor.ts";
import type { Step } from "../lib/engine/module_api.ts";
import { loadTestProject, withTempDir } from "./helpers/fixtures.ts";

/** A terminal that knows newline, cursor-up (ESC [ n A) and erase-below (ESC [ J). */
class Screen {
  lines: string[] = [];
  row = 0;
  write(text: string): void {
    // deno-lint-ignore no-control-regex
    for (const part of text.split(/(\x1b\[\d*[AJ])/)) {
      // deno-lint-ignore no-control-regex
      const code = /^\x1b\[(\d*)([AJ])$/.exec(part);
      if (code?.[2] === "A") this.row -= Number(code[1] || 1);
      else if (code?.[2] === "J") this.lines.length = this.row;
      else {
        for (const ch of part) {
          if (ch === "\n") this.row++;
          else this.lines[this.row] = (this.lines[this.row] ?? "") + ch;
        }
      }
      assert.ok(this.row >= 0, "the cursor went above the output");
    }
  }
  text(): string {
    return this.lines.slice(0, this.row).map((l) => l + "\n").join("");
  }
}

Deno.test("live status: running hosts stay below the finished lines and leave nothing behind", () => {
  const screen = new Screen();
  let now = 0;
  const live = new LiveStatus({
    write: (t) => screen.write(t),
    now: () => now,
    size: () => ({ columns: 80, rows: 24 }),
    everyMs: 0,
  });
  const line = live.around((t) => screen.write(t));
  live.step("web-1", "connect");
  live.step("web-22", "connect");
  assert.equal(screen.text(), "web-1   ...      connect  0ms\nweb-22  ...      connect  0ms\n");
  now = 1500;
  line("web-1  ok  connect\n");
  live.step("web-1", "migrate");
  now = 4000;
  line("web-22  ok  connect\n");
  assert.equal(
    screen.text(),
    "web-1  ok  connect\nweb-22  ok  connect\n" +
      "web-1   ...      migrate  2.5s\nweb-22  ...      connect  4.0s\n",
  );
  live.done("web-1");
  live.done("web-22");
  line("summary\n");
  assert.equal(screen.text(), "web-1  ok  connect\nweb-22  ok  connect\nsummary\n");
});

Deno.test("live status: more hosts than the terminal has rows are counted, not drawn", () => {
  const screen = new Screen();
  const live = new LiveStatus({
    write: (t) => screen.write(t),
    now: () => 0,
    size: () => ({ columns: 20, rows: 5 }),
    everyMs: 0,
  });
  for (let i = 1; i <= 10; i++) live.step(`web-${i}`, "a very long step name that wraps");
  const lines = screen.text().trimEnd().split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[2], "... and 8 more");
  assert.ok(lines.every((l) => l.length <= 19), "no line wraps");
});

Deno.test("live status: a run on a terminal ends with the plain lines only", async () => {
  await withTempDir(async (dir) => {
    const inventory = ["web-1", "web-2"]
      .map((n, i) => `[[hosts]]\nname = "${n}"\nssh_hostname = "10.0.0.${i + 1}"\n`).join("\n");
    const { project, env } = await loadTestProject(dir, 'project_name = "hello"\n', inventory);
    const screen = new Screen();
    const plain: string[] = [];
    let seen = "";
    const write = (t: string) => screen.write(t);
    const live = new LiveStatus({ write, everyMs: 0, size: () => ({ columns: 80, rows: 24 }) });
    const ui = new Ui({ verbosity: "normal", color: false, live, write, writeErr: write });
    const step: Step = {
      name: "go live",
      run() {
        seen = screen.text();
        return Promise.resolve();
      },
    };
    const opts = {
      project,
      env,
      hosts: env.hosts,
      parallel: 1,
      dryRun: false,
      signal: new AbortController().signal,
      executor: (h: { name: string; ssh_user: string }) =>
        new RecordingExecutor({ host: h.name, sshUser: h.ssh_user }),
      plan: () => ({ steps: [step], probes: [], files: [], packages: [] }),
      appEnv: () => new Map(),
      deployFiles: new Set<string>(),
    };
    await runOnHosts({ ...opts, ui });
    assert.match(seen, /^web-2 {2}\.\.\. +go live {2}\d+ms$/m, JSON.stringify(seen));
    const plainUi = new Ui({ verbosity: "normal", color: false, write: (t) => plain.push(t) });
    await runOnHosts({ ...opts, ui: plainUi });
    const strip = (s: string) => s.replace(/\d+ms/g, "Nms");
    assert.equal(strip(screen.text()), strip(plain.join("")));
  });
});
