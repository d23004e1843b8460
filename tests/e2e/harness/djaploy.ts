/**
 * djaploy as its users run it: a subprocess in the project's work tree, with
 * the permissions of `deno task djaploy`.
 */
import { join, resolve } from "node:path";
import { log, REPO, VERBOSE } from "./environment.ts";
import { type ProcessResult, run } from "./run.ts";
import { TASK_PERMISSIONS, TASK_V8_FLAGS } from "../../helpers/task_flags.ts";

/** The value of `HELLO_SECRET_KEY` in every djaploy run: assert it never shows in output. */
export const TEST_SECRET = "e2e-secret-9f1c2b7a4d";

/** The permissions of `deno task djaploy` (deno.json). */
export const DJAPLOY_PERMISSIONS: readonly string[] = TASK_PERMISSIONS;

/** The V8 flags of `deno task djaploy` (deno.json): V8 does not shrink its heap while a run waits. */
export const DJAPLOY_V8_FLAGS: readonly string[] = TASK_V8_FLAGS;

export type DjaployResult = ProcessResult;

export interface DjaployOptions {
  /** Added to the environment; `undefined` removes a variable (e.g. HELLO_SECRET_KEY). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdin?: string;
  /** Default 10 minutes. */
  readonly timeoutMs?: number;
  /** Called with the started djaploy process (e.g. to kill it mid-run). */
  readonly onSpawn?: (child: Deno.ChildProcess) => void;
  /** Called with each chunk of stdout as it arrives (e.g. to follow `--json` events). */
  readonly onStdout?: (chunk: string) => void;
}

/**
 * Runs `deno run <perms> cli.ts ...args` in `project.dir`, or instead the
 * script (.js/.ts, run by deno) or program named by env `DJAPLOY_E2E_BIN`.
 */
export async function djaploy(
  project: { readonly dir: string },
  args: readonly string[],
  opts: DjaployOptions = {},
): Promise<DjaployResult> {
  const [program, ...prefix] = djaployCommand();
  const env: Record<string, string | undefined> = {
    ...Deno.env.toObject(),
    HELLO_SECRET_KEY: TEST_SECRET,
    NO_COLOR: "1",
    ...opts.env,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const result = await run(program, [...prefix, ...args], {
    cwd: project.dir,
    env: env as Record<string, string>,
    stdin: opts.stdin,
    timeoutMs: opts.timeoutMs,
    onSpawn: opts.onSpawn,
    onStdout: opts.onStdout,
  });
  if (VERBOSE) {
    log(`$ djaploy ${args.join(" ")}  # exit ${result.code} in ${result.ms} ms\n${result.output}`);
  }
  return result;
}

/** The argv that starts djaploy. */
export function djaployCommand(): string[] {
  const deno = Deno.execPath();
  const bin = Deno.env.get("DJAPLOY_E2E_BIN");
  if (!bin) {
    // The project dir is outside the repo, so name the repo's config (imports, lock) explicitly.
    const config = ["--config", join(REPO, "deno.json")];
    return [
      deno,
      "run",
      "-q",
      ...config,
      ...DJAPLOY_PERMISSIONS,
      ...DJAPLOY_V8_FLAGS,
      join(REPO, "cli.ts"),
    ];
  }
  const path = resolve(bin);
  if (!/\.(m?js|ts)$/.test(path)) return [path];
  return [deno, "run", "-q", "--no-config", ...DJAPLOY_PERMISSIONS, ...DJAPLOY_V8_FLAGS, path];
}
