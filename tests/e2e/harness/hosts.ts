/**
 * Real test hosts for the length of one callback: `withHosts` boots them with
 * scripts/testhosts.sh and always tears them down.
 */
import { join } from "node:path";
import { exists, KEEP, log, requireHosts, STATE, TESTHOSTS } from "./environment.ts";
import { run, type RunResult } from "./run.ts";

const FIRST_INDEX = 11;
const LAST_INDEX = 250;

/** A booted Debian 12 host. */
export interface TestHost {
  /** The name given to withHosts (the inventory name, e.g. "web-1"). */
  readonly name: string;
  /** `10.231.<index>.2`; the controller is `.1`. */
  readonly ip: string;
  /** Network namespace and machine name, `djt<index>`. */
  readonly nsName: string;
  readonly index: number;
  /** The private key that logs in as `deploy` (and root). */
  readonly key: string;
  /** Milliseconds from `testhosts.sh up` until SSH answered. */
  readonly bootMs: number;
  /** Runs a shell command on the host as `deploy` (fresh ssh login, no host-key checks). */
  ssh(command: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<RunResult>;
  /**
   * Reboots the host (`systemctl reboot` inside, then boots it again) and
   * resolves with the milliseconds until SSH answered again. Only for hosts
   * booted with `persistent`: a volatile host would lose its state.
   */
  reboot(): Promise<number>;
}

export interface WithHostsOptions {
  /** Leave the hosts (and projects made for them) running; default `DJAPLOY_E2E_KEEP=1`. */
  readonly keep?: boolean;
  /**
   * The hosts keep their files on disk instead of in memory, so that
   * `reboot()` brings them back as they were (scripts/testhosts.sh --persistent).
   */
  readonly persistent?: boolean;
}

type Cleanup = () => Promise<void>;
const scopes = new WeakMap<object, Cleanup[]>();

/** Runs `cleanup` when the withHosts call that booted one of `hosts` ends; false if none did. */
export function deferToHosts(hosts: readonly object[], cleanup: Cleanup): boolean {
  const scope = hosts.map((host) => scopes.get(host)).find((s) => s !== undefined);
  scope?.push(cleanup);
  return scope !== undefined;
}

/**
 * Boots one fresh host per name (in parallel), runs `fn` with them, then tears
 * them down, along with the projects makeProject made for them.
 */
export async function withHosts<T>(
  names: readonly string[],
  fn: (hosts: TestHost[]) => Promise<T>,
  opts: WithHostsOptions = {},
): Promise<T> {
  if (names.length === 0 || new Set(names).size !== names.length) {
    throw new Error(`Give withHosts distinct host names: got ${JSON.stringify(names)}`);
  }
  const { key } = await requireHosts();
  const keep = opts.keep ?? KEEP;
  const slots: number[] = [];
  const cleanups: Cleanup[] = [];
  let result: T;
  try {
    for (const _ of names) slots.push(await claimSlot());
    const booted = await Promise.allSettled(
      names.map((name, i) => boot(name, slots[i], key, opts.persistent ?? false)),
    );
    const errors = booted.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
    if (errors.length > 0) throw new Error(errors.join("\n"));
    const hosts = booted.map((r) => (r as PromiseFulfilledResult<TestHost>).value);
    for (const host of hosts) scopes.set(host, cleanups);
    result = await fn(hosts);
  } catch (err) {
    await finish(slots, cleanups, keep);
    throw err;
  }
  const problems = await finish(slots, cleanups, keep);
  if (problems.length > 0) {
    throw new Error(`Could not tear test hosts down:\n${problems.join("\n")}`);
  }
  return result;
}

async function boot(
  name: string,
  index: number,
  key: string,
  persistent: boolean,
): Promise<TestHost> {
  const nsName = `djt${index}`;
  const ip = `10.231.${index}.2`;
  const upArgs = [TESTHOSTS, "up", nsName, String(index), ...(persistent ? ["--persistent"] : [])];
  let up = await run("bash", upArgs, { timeoutMs: 120_000 });
  if (up.code !== 0) {
    // A container that did not come up is the test machine's trouble, not djaploy's: say so
    // and try once more from scratch (`up` tears down what is left first).
    log(
      `djaploy e2e: host ${name} (${nsName}) did not boot, trying once more: ${up.stderr.trim()}`,
    );
    up = await run("bash", upArgs, { timeoutMs: 120_000 });
  }
  if (up.code !== 0) {
    throw new Error(`Host ${name} (${nsName}, ${ip}) did not boot: ${up.stderr.trim()}`);
  }
  const ssh = async (command: string, opts: { stdin?: string; timeoutMs?: number } = {}) => {
    const { code, stdout, stderr } = await run("ssh", [
      ...["-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"],
      ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
      ...["-o", "LogLevel=ERROR", `deploy@${ip}`, command],
    ], opts);
    return { code, stdout, stderr };
  };
  const reboot = async () => {
    if (!persistent) throw new Error(`Boot ${name} with { persistent: true } to reboot it`);
    // `testhosts.sh reboot` waits up to 60 s for SSH and, when the container did not come back,
    // boots it once more and waits again: the limit leaves room for both.
    const r = await run("bash", [TESTHOSTS, "reboot", nsName], { timeoutMs: 200_000 });
    if (r.code !== 0) {
      throw new Error(`Host ${name} (${nsName}) did not reboot: ${r.stderr.trim()}`);
    }
    return r.ms;
  };
  return { name, ip, nsName, index, key, bootMs: up.ms, ssh, reboot };
}

/** Tears down (or, when kept, marks as kept); returns what went wrong. */
async function finish(slots: number[], cleanups: Cleanup[], keep: boolean): Promise<string[]> {
  if (keep) {
    const hosts = slots.map((i) => `djt${i} (10.231.${i}.2)`).join(", ");
    log(`djaploy e2e: kept hosts ${hosts}; stop them with 'scripts/testhosts.sh down-all'`);
    await Promise.all(slots.map((i) => Deno.writeTextFile(slotFile(i), "keep")));
    return [];
  }
  const results = await Promise.allSettled([
    ...slots.map(async (index) => {
      const down = await run("bash", [TESTHOSTS, "down", `djt${index}`], { timeoutMs: 60_000 });
      if (down.code !== 0) throw new Error(`djt${index}: ${down.stderr.trim()}`);
      await Deno.remove(slotFile(index));
    }),
    ...cleanups.map((cleanup) => cleanup()),
  ]);
  return results.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
}

/** Whether a process runs (reading /proc needs --allow-all in Deno; signalling does not). */
async function alive(pid: string): Promise<boolean> {
  return /^\d+$/.test(pid) && (await run("bash", ["-c", 'kill -0 "$1"', "bash", pid])).code === 0;
}

const slotFile = (index: number) => join(STATE, "slots", String(index));

/**
 * Claims a free host index. Slot files (holding the owner's pid, or "keep")
 * make this safe across test processes running at once; a slot whose owner
 * died is reclaimed, and `testhosts.sh up` stops whatever that owner left.
 */
async function claimSlot(): Promise<number> {
  await Deno.mkdir(join(STATE, "slots"), { recursive: true });
  const addresses = (await run("ip", ["-o", "-4", "addr", "show"])).stdout;
  const me = String(Deno.pid);
  for (let index = FIRST_INDEX; index <= LAST_INDEX; index++) {
    const file = slotFile(index);
    try {
      await Deno.writeTextFile(file, me, { createNew: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      const owner = (await Deno.readTextFile(file).catch(() => "")).trim();
      const inUse = owner === "keep"
        ? await exists(`/run/netns/djt${index}`)
        : owner === "" || await alive(owner);
      if (inUse) continue;
      await Deno.writeTextFile(file, me);
      if ((await Deno.readTextFile(file)).trim() !== me) continue; // another process won it
      return index;
    }
    // Someone started a host with this name or address by hand: leave it alone.
    if (await exists(`/run/netns/djt${index}`) || addresses.includes(` 10.231.${index}.1/`)) {
      await Deno.remove(file);
      continue;
    }
    return index;
  }
  throw new Error(`Free a test-host slot: all of ${FIRST_INDEX}..${LAST_INDEX} are in use`);
}
