/**
 * For the operations modules' tests: a project loaded through the real
 * config loader, a plan run through the real runner on a recording executor
 * (with a secret resolver, as `djaploy configure` has), and a local HTTP
 * server for the files modules download.
 */
import "../helpers/builtins.ts";
import { join } from "node:path";
import type { HostPlan, HostResult } from "../../lib/engine/runner.ts";
import { runOnHosts } from "../../lib/engine/runner.ts";
import { RecordingExecutor, type Responder } from "../../lib/exec/recording_executor.ts";
import { SecretResolver } from "../../lib/secrets/resolve.ts";
import type { Secret } from "../../lib/secrets/secret.ts";
import { configurePlan } from "../helpers/plans.ts";
import {
  collectingUi,
  factsAnswer,
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  loadTestProject,
  type ProbeAnswer,
} from "../helpers/fixtures.ts";

export { configurePlan };

export interface Recorded {
  readonly result: HostResult;
  readonly exec: RecordingExecutor;
  readonly out: string;
  readonly err: string;
  /** Every command line as shown, joined: what a person (or a log) would see. */
  readonly text: string;
}

export async function runRecordedWithSecrets(opts: {
  loaded: LoadedProject;
  plan: HostPlan;
  facts?: Readonly<Record<string, ProbeAnswer>>;
  respond?: Responder;
  appEnv?: ReadonlyMap<string, string | Secret>;
}): Promise<Recorded> {
  const { ui, out, err } = collectingUi();
  const secrets = new SecretResolver({
    onSecret: (v) => ui.addSecret(v),
    baseDir: opts.loaded.project.repo_dir,
  });
  let exec: RecordingExecutor | undefined;
  const facts = factsStdout(opts.facts ?? {});
  const [result] = await runOnHosts({
    ui,
    project: opts.loaded.project,
    env: opts.loaded.env,
    hosts: [opts.loaded.host],
    parallel: 1,
    dryRun: false,
    signal: new AbortController().signal,
    executor: (h) =>
      exec = new RecordingExecutor({
        host: h.name,
        sshUser: h.ssh_user,
        respond: (cmd) => isFactsCommand(cmd) ? factsAnswer(cmd, facts) : opts.respond?.(cmd),
      }),
    plan: () => opts.plan,
    appEnv: () => opts.appEnv ?? new Map(),
    deployFiles: new Set(),
    secrets,
  });
  return {
    result,
    exec: exec!,
    out: out.join(""),
    err: err.join(""),
    text: exec!.lines().join("\n"),
  };
}

/** Writes a project (with `secrets` as files next to it, referenced as file:) and loads it. */
export async function project(
  dir: string,
  toml: string,
  opts: { secrets?: Record<string, string>; inventory?: string } = {},
): Promise<LoadedProject> {
  for (const [name, value] of Object.entries(opts.secrets ?? {})) {
    await Deno.writeTextFile(join(dir, name), value);
  }
  return await loadTestProject(dir, toml, opts.inventory);
}

export interface Served {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves fixed files (path -> bytes) on 127.0.0.1. */
export function serveFiles(files: Readonly<Record<string, Uint8Array | string>>): Served {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const body = files[path];
    if (body === undefined) return new Response("not found", { status: 404 });
    return new Response(typeof body === "string" ? body : body.slice().buffer);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** A .tar.gz holding the given files (made with the local tar). */
export async function tarGz(
  dir: string,
  files: Readonly<Record<string, { text: string; mode?: number }>>,
): Promise<Uint8Array> {
  const root = await Deno.makeTempDir({ dir, prefix: "tar-" });
  for (const [path, f] of Object.entries(files)) {
    const full = join(root, path);
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeTextFile(full, f.text, { mode: f.mode ?? 0o644 });
    if (f.mode) await Deno.chmod(full, f.mode);
  }
  const out = join(dir, `${crypto.randomUUID()}.tar.gz`);
  // Top-level names as release archives have them (Python-3.12.0/..., not ./Python-3.12.0/...).
  const top = [...new Set(Object.keys(files).map((p) => p.split("/")[0]))];
  const r = await new Deno.Command("tar", { args: ["-czf", out, "-C", root, ...top] }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  return await Deno.readFile(out);
}

/** Runs fn with djaploy's download cache in dir/cache. */
export async function withCache<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("DJAPLOY_CACHE_DIR");
  Deno.env.set("DJAPLOY_CACHE_DIR", join(dir, "cache"));
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("DJAPLOY_CACHE_DIR");
    else Deno.env.set("DJAPLOY_CACHE_DIR", before);
  }
}
