import assert from "node:assert/strict";
import { colorWanted, Ui } from "../lib/output/ui.ts";
import { main } from "../cli.ts";
import { waitingForLock } from "../lib/engine/runner.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;

function collecting(opts: { color: boolean; errColor?: boolean; events?: boolean }) {
  const out: string[] = [];
  const err: string[] = [];
  const ui = new Ui({
    verbosity: "normal",
    ...opts,
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
  });
  return { ui, out, err };
}

Deno.test("ui: colour only on a terminal, never with NO_COLOR or TERM=dumb", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(colorWanted(true, env({})), true);
  assert.equal(colorWanted(false, env({})), false);
  assert.equal(colorWanted(true, env({ NO_COLOR: "1" })), false);
  // no-color.org: an empty NO_COLOR does not count.
  assert.equal(colorWanted(true, env({ NO_COLOR: "" })), true);
  assert.equal(colorWanted(true, env({ TERM: "dumb" })), false);
});

Deno.test("ui: without colour every line is plain text", () => {
  const { ui, out, err } = collecting({ color: false });
  ui.line(`${ui.bold("web-1")}  ${ui.green("changed")}  ${ui.dim("3ms")}`);
  ui.warn("slow");
  ui.error(ui.red("failed"));
  assert.equal(out.join(""), "web-1  changed  3ms\n");
  assert.equal(err.join(""), "warning: slow\nfailed\n");
  assert.doesNotMatch(out.join("") + err.join(""), CONTROL);
});

Deno.test("ui: stderr gets colour only when it is a terminal itself", () => {
  const { ui, err } = collecting({ color: true, errColor: false });
  ui.error("failed");
  ui.warn("slow");
  assert.equal(err.join(""), "failed\nwarning: slow\n");
});

Deno.test("ui: with events, stdout carries only JSON lines; people's lines go to stderr, masked", () => {
  const { ui, out, err } = collecting({ color: false, events: true });
  ui.addSecret("hunter22");
  ui.line("web-1  ok  connect");
  ui.result("summary");
  ui.event({ event: "step", host: "web-1", step: "migrate", status: "failed", detail: "hunter22" });
  assert.equal(err.join(""), "web-1  ok  connect\nsummary\n");
  assert.equal(out.length, 1);
  assert.deepEqual(JSON.parse(out[0]), {
    event: "step",
    host: "web-1",
    step: "migrate",
    status: "failed",
    detail: "[REDACTED]",
  });
  assert.ok(out[0].endsWith("}\n"));
  // withVerbosity keeps the events mode.
  const quiet = ui.withVerbosity("quiet");
  quiet.event({ event: "summary", ok: true });
  assert.equal(out.length, 2);
});

Deno.test("ui: without events, event() writes nothing", () => {
  const { ui, out, err } = collecting({ color: false });
  ui.event({ event: "summary", ok: true });
  assert.deepEqual([out, err], [[], []]);
});

async function runMain(argv: string[], isTerminal: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal,
  });
  return { code, out: out.join(""), err: err.join("") };
}

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const set = (all: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(all)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

Deno.test("cli: errors are red on a terminal, plain without one or with NO_COLOR", async () => {
  await withEnv({ NO_COLOR: undefined, TERM: "xterm" }, async () => {
    const tty = await runMain(["deplyo"], true);
    assert.equal(tty.code, 2);
    assert.ok(tty.err.includes("\x1b[31m"), "red on a terminal");
    const plain = await runMain(["deplyo"], false);
    assert.doesNotMatch(plain.err, CONTROL);
    assert.equal(plain.err, tty.err.replaceAll("\x1b[31m", "").replaceAll("\x1b[0m", ""));
  });
  await withEnv({ NO_COLOR: "1" }, async () => {
    const r = await runMain(["deplyo"], true);
    assert.equal(r.code, 2);
    assert.doesNotMatch(r.err, CONTROL);
  });
});

Deno.test("ui: a host waiting for another run's deploy lock says whom it waits for: a plain line, and with --json a lock_wait event", () => {
  const holder = {
    holder: "ops@laptop",
    command: "deploy --env production",
    since: new Date(Date.now() - 12_000).toISOString(),
  };
  const plain = collecting({ color: false });
  waitingForLock(plain.ui, "web-1")(holder);
  assert.match(
    plain.out.join(""),
    /^web-1 {2}waiting for the deploy lock, held by ops@laptop \(djaploy deploy --env production, since \S+, 1[23] s ago\)\n$/,
  );
  assert.doesNotMatch(plain.out.join(""), CONTROL);
  // A holder whose record could not be read is still named as a run.
  const unknown = collecting({ color: false });
  waitingForLock(unknown.ui, "web-2")(undefined);
  assert.equal(
    unknown.out.join(""),
    "web-2  waiting for the deploy lock, held by an unknown run\n",
  );

  const json = collecting({ color: false, events: true });
  waitingForLock(json.ui, "web-1")(holder);
  assert.equal(json.out.length, 1);
  assert.deepEqual(JSON.parse(json.out[0]), { event: "lock_wait", host: "web-1", ...holder });
  assert.match(json.err.join(""), /^web-1 {2}waiting for the deploy lock, held by ops@laptop/);
  const unread = collecting({ color: false, events: true });
  waitingForLock(unread.ui, "web-2")(undefined);
  assert.deepEqual(JSON.parse(unread.out[0]), { event: "lock_wait", host: "web-2" });
});
