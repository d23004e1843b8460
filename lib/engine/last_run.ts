/**
 * The last deploy's outcome per host of an environment, kept on this machine
 * in the project's .djaploy/ folder (ignored by git), so that
 * `deploy --retry-failed` can finish a partial rollout: it deploys to the
 * hosts that failed, were stopped or never started.
 */
import { join } from "../paths.ts";
import type { ProjectConfig } from "../config/types.ts";
import { type HostResult, type HostStatus, hostStatus } from "./runner.ts";
import { UserError } from "../errors.ts";

export interface HostRecord {
  readonly status: HostStatus;
  /** The release the run deployed (for "ok": the one the host runs). */
  readonly release?: string;
  /** When the run ended, ISO 8601. */
  readonly at: string;
}

export interface LastRun {
  readonly env: string;
  /** Every host deploys have reached, by name: the latest run that included it wins. */
  readonly hosts: Readonly<Record<string, HostRecord>>;
}

const STATUSES: readonly HostStatus[] = ["ok", "failed", "stopped", "not_started"];

export function lastRunPath(project: ProjectConfig, env: string): string {
  return join(project.repo_dir, ".djaploy", "last-run", `${env}.json`);
}

export async function readLastRun(
  project: ProjectConfig,
  env: string,
): Promise<LastRun | undefined> {
  const path = lastRunPath(project, env);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const run = JSON.parse(text) as LastRun;
    const ok = run && run.env === env && typeof run.hosts === "object" && run.hosts !== null &&
      Object.values(run.hosts).every((h) => STATUSES.includes(h?.status));
    if (ok) return run;
  } catch {
    // reported below
  }
  throw new UserError(
    `Delete ${path} (or deploy with --hosts): it is not a record of deploys to ${env} djaploy can read`,
  );
}

/** Merges a deploy's results into the environment's record (not for dry runs). */
export async function recordRun(
  project: ProjectConfig,
  env: string,
  results: readonly HostResult[],
  release?: string,
): Promise<void> {
  const before = await readLastRun(project, env).catch(() => undefined);
  const at = new Date().toISOString();
  const hosts: Record<string, HostRecord> = { ...before?.hosts };
  for (const r of results) hosts[r.host] = { status: hostStatus(r), release, at };
  const path = lastRunPath(project, env);
  const dir = join(project.repo_dir, ".djaploy");
  await Deno.mkdir(join(dir, "last-run"), { recursive: true });
  // Ignored by git even where `djaploy init` did not add .djaploy/ to .gitignore.
  await Deno.writeTextFile(join(dir, ".gitignore"), "*\n");
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify({ env, hosts }, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

/** The hosts of the record that did not succeed, in the given (inventory) order. */
export function hostsToRetry(run: LastRun, inventory: readonly string[]): string[] {
  return inventory.filter((h) => run.hosts[h] && run.hosts[h].status !== "ok");
}
