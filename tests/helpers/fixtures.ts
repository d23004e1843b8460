/**
 * Shared fixtures for unit tests: running /bin/sh locally, temp folders,
 * a Ui that collects its output, a project loaded through the real config
 * loader, and answers to the facts command in the format lib/host/facts.ts reads.
 */
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import type { EnvironmentConfig, HostConfig, ProjectConfig } from "../../lib/config/types.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import type { RecordedCommand } from "../../lib/exec/recording_executor.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { Ui } from "../../lib/output/ui.ts";

export interface ShResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `/bin/sh -c script sh ...args` on this machine. */
export async function sh(
  script: string,
  args: readonly string[] = [],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<ShResult> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...args],
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `fn` with a new temp folder (its real path), removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_test_" }));
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes files (paths relative to `dir`). */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
}

/** A Ui without colour whose output is collected. */
export function collectingUi(
  verbosity: "normal" | "verbose" = "normal",
): { ui: Ui; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const ui = new Ui({
    verbosity,
    color: false,
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
  });
  return { ui, out, err };
}

export interface LoadedProject {
  readonly project: ProjectConfig;
  readonly env: EnvironmentConfig;
  readonly host: HostConfig;
}

/** Writes infra/djaploy.toml and infra/inventory/test.toml under `dir` and loads them. */
export async function loadTestProject(
  dir: string,
  djaployToml: string,
  inventoryToml = '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
): Promise<LoadedProject> {
  await writeFiles(dir, {
    "infra/djaploy.toml": djaployToml,
    "infra/inventory/test.toml": inventoryToml,
  });
  const project = await loadProject({ configPath: join(dir, "infra", "djaploy.toml"), cwd: dir });
  const env = await loadEnvironment(project, "test");
  return { project, env, host: env.hosts[0] };
}

/** The facts command every run starts with (the one script holding all probes). */
export function isFactsCommand(cmd: RemoteCommand): boolean {
  return cmd.argv[0] === "sh" && cmd.argv[1] === "-c" &&
    /^\(exec 2>\/dev\/null\nLC_ALL=C\n/.test(cmd.argv[2]);
}

export interface ProbeAnswer {
  readonly out: string;
  readonly code?: number;
}

const ANSWERS = "facts answers: ";

/**
 * Answers for the facts command, by probe name: answer a facts command with
 * factsAnswer(cmd, factsStdout(answers)), which puts them in the order and the
 * format of its script (lib/host/facts.ts). A probe left out reads as not run
 * (exit 127, no output).
 */
export function factsStdout(answers: Readonly<Record<string, ProbeAnswer>>): string {
  return ANSWERS + JSON.stringify(answers);
}

/** The facts command's stdout (base64, as gatherFacts asks for it) for factsStdout's answers. */
export function factsAnswer(cmd: RemoteCommand, stdout: string): { stdout: string } {
  if (!isFactsCommand(cmd) || !stdout.startsWith(ANSWERS)) {
    throw new Error("factsAnswer: not a facts command, or answers not from factsStdout");
  }
  const answers: Record<string, ProbeAnswer> = JSON.parse(stdout.slice(ANSWERS.length));
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const line of cmd.argv[2].split("\n")) {
    if (!line.startsWith(": probe ")) continue;
    const name = unquote(line.slice(8));
    const a = answers[name] ?? { out: "", code: 127 };
    const out = encoder.encode(a.out);
    parts.push(encoder.encode(`${a.code ?? 0} ${out.length}\n`), out);
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { stdout: bytes.toBase64() };
}

/** A word as lib/shell.ts quotes it, unquoted. */
function unquote(word: string): string {
  return word.startsWith("'") ? word.slice(1, -1).replaceAll(`'\\''`, "'") : word;
}

/** `sha256sum` output for the given files. */
export function sha256sumOutput(files: ReadonlyMap<string, string>): string {
  return [...files].map(([path, text]) => `${sha256hex(text)}  ${path}\n`).join("");
}

export function sha256hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Files written by lib/host/remote_ops.ts putFile in a recording: path -> content. */
export function writtenFiles(recorded: readonly RecordedCommand[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const r of recorded) {
    const c = r.command;
    if (!c || c.argv[0] !== "sh" || !c.argv[2].includes("djaploy-new") || c.stdin === undefined) {
      continue;
    }
    files.set(c.argv[4], c.stdin instanceof Secret ? c.stdin.reveal() : c.stdin);
  }
  return files;
}
