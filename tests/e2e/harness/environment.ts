/**
 * Where things are, and whether this machine can boot test hosts. Hosts need
 * Linux, root, systemd-nspawn and the base image (built once with debootstrap).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./run.ts";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const TESTHOSTS = join(REPO, "scripts/testhosts.sh");
/** The state dir of scripts/testhosts.sh (pid files, logs); the harness adds `slots/`. */
export const STATE = Deno.env.get("DJAPLOY_TESTHOST_STATE") ?? "/run/djaploy-testhosts";
/** `DJAPLOY_E2E_KEEP=1`: leave hosts and project dirs behind for debugging. */
export const KEEP = Deno.env.get("DJAPLOY_E2E_KEEP") === "1";
/** `DJAPLOY_E2E_VERBOSE=1`: print every djaploy run. */
export const VERBOSE = Deno.env.get("DJAPLOY_E2E_VERBOSE") === "1";
const SKIP_REQUESTED = Deno.env.get("DJAPLOY_E2E") === "skip";

/** The harness's notices go to stderr, next to Deno's test report. */
export function log(message: string): void {
  // deno-lint-ignore no-console
  console.error(message);
}

export interface HostEnvironment {
  /** The private key that logs in to every test host as `deploy` or root. */
  readonly key: string;
}

let environment: Promise<HostEnvironment> | undefined;

/** Checks once per process that hosts can boot, building the base image if needed. */
function hostEnvironment(): Promise<HostEnvironment> {
  return environment ??= probe();
}

async function probe(): Promise<HostEnvironment> {
  if (Deno.build.os !== "linux") throw new Error(`test hosts need Linux: this is ${Deno.build.os}`);
  if (Deno.uid() !== 0) throw new Error(`test hosts need root: running as uid ${Deno.uid()}`);
  for (const program of ["systemd-nspawn", "ip", "iptables", "ssh", "bash"]) {
    if (!(await onPath(program))) {
      throw new Error(`${program} is not installed: run 'scripts/testhosts.sh deps' as root`);
    }
  }
  // Fails with its own message when debootstrap is missing and no image is cached.
  const image = await run("bash", [TESTHOSTS, "image"], { timeoutMs: 900_000 });
  if (image.code !== 0) {
    throw new Error(`the base image could not be built: ${image.stderr.trim().slice(-2000)}`);
  }
  const key = join(image.stdout.trim().split("\n").at(-1)!, "id_ed25519");
  if (!(await exists(key))) throw new Error(`the test key is missing: ${key}`);
  return { key };
}

async function onPath(program: string): Promise<boolean> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  for (const dir of dirs) if (dir && await exists(join(dir, program))) return true;
  return false;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Why end-to-end tests are ignored in this run: set only when `DJAPLOY_E2E=skip`
 * and hosts cannot boot here. Decided on import, before any test is registered.
 */
export const e2eSkipReason: string | undefined = SKIP_REQUESTED
  ? await hostEnvironment().then(() => undefined, (err: Error) => err.message)
  : undefined;
if (e2eSkipReason) {
  log(`djaploy e2e: ignoring end-to-end tests (DJAPLOY_E2E=skip): ${e2eSkipReason}`);
}

/**
 * `Deno.test` for tests that boot hosts: reported as ignored (never passed)
 * when `DJAPLOY_E2E=skip` is set and hosts cannot boot here.
 */
export function e2eTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void;
export function e2eTest(definition: Omit<Deno.TestDefinition, "ignore">): void;
export function e2eTest(
  nameOrDefinition: string | Omit<Deno.TestDefinition, "ignore">,
  fn?: (t: Deno.TestContext) => Promise<void>,
): void {
  const definition = typeof nameOrDefinition === "string"
    ? { name: nameOrDefinition, fn: fn! }
    : nameOrDefinition;
  Deno.test({ ...definition, ignore: e2eSkipReason !== undefined });
}

/** The host environment, or a loud error saying why hosts cannot boot and what to do. */
export async function requireHosts(): Promise<HostEnvironment> {
  try {
    return await hostEnvironment();
  } catch (err) {
    const hint = SKIP_REQUESTED
      ? "DJAPLOY_E2E=skip is set, but this test was registered with Deno.test: " +
        "register it with e2eTest() so that it is reported as ignored"
      : "run the end-to-end tests as root on Linux after 'scripts/testhosts.sh deps', " +
        "or set DJAPLOY_E2E=skip to report them as ignored";
    throw new Error(`Cannot boot end-to-end test hosts: ${(err as Error).message}\nHint: ${hint}`);
  }
}
