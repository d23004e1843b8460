/**
 * `djaploy maintenance on|off|status`: nginx answers every request with 503
 * and a maintenance page while on (modules/nginx/maintenance.ts). The page is
 * infra/deploy_files/<env>/etc/nginx/djaploy.d/<app>/maintenance.html when
 * the project has one, else a built-in page.
 */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import type { HostConfig } from "../config/types.ts";
import { UsageError } from "../errors.ts";
import { join } from "../paths.ts";
import { layoutFor } from "../host/layout.ts";
import { type HostPlan, printSummary, runOnHosts } from "../engine/runner.ts";
import type { Step } from "../engine/module_api.ts";
import { RecordingExecutor } from "../exec/recording_executor.ts";
import type { Executor } from "../exec/executor.ts";
import { maintenancePage } from "../../templates/nginx_maintenance.ts";
import {
  maintenanceFiles,
  maintenanceNote,
  maintenanceOffStep,
  maintenanceOnStep,
  maintenancePaths,
  maintenanceProbe,
} from "../host/maintenance.ts";
import { COMMON_FLAGS, ENV_FLAG, HOSTS_FLAG, lockOwner } from "./common.ts";
import { openHosts } from "./remote_hosts.ts";

const ACTIONS = ["on", "off", "status"] as const;
type Action = typeof ACTIONS[number];

export const maintenanceCommand: CommandDef = {
  name: "maintenance",
  summary:
    "Turn maintenance mode on or off: while on, nginx answers 503 with a maintenance page (your own from deploy_files, or a built-in one).",
  args: "on|off|status",
  flags: [
    ENV_FLAG,
    HOSTS_FLAG,
    { name: "dry-run", type: "boolean", description: "Show the commands, change nothing" },
    ...COMMON_FLAGS,
  ],
};

export function maintenanceAction(args: Parsed): Action {
  const words = [...args.positional, ...args.rest];
  const action = words[0] as Action | undefined;
  if (words.length !== 1 || !action || !ACTIONS.includes(action)) {
    throw new UsageError(
      `Say on, off or status: djaploy maintenance ${words.join(" ") || "(nothing)"}`,
      { hint: "djaploy maintenance on --env production" },
    );
  }
  return action;
}

/** The project's own page for a host, from deploy_files, if there is one. */
export async function customPage(
  infraDir: string,
  envName: string,
  host: HostConfig,
): Promise<string | undefined> {
  const page = maintenancePaths(layoutFor(host)).page;
  const local = join(infraDir, "deploy_files", envName, ...page.split("/").filter(Boolean));
  try {
    return await Deno.readTextFile(local);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

const statusStep = (out: Map<string, string>): Step => ({
  name: "read maintenance mode",
  run(ctx) {
    const snippet = ctx.facts.get(maintenanceProbe(ctx.layout));
    out.set(
      ctx.host.name,
      snippet === undefined ? "off" : `on (${maintenanceNote(snippet) || "since before"})`,
    );
    return Promise.resolve();
  },
});

export async function maintenance(ui: Ui, args: Parsed): Promise<number> {
  const action = maintenanceAction(args);
  const dryRun = Boolean(args.flags["dry-run"]);
  const remote = await openHosts(ui, args.flags, "maintenance");
  try {
    const pages = new Map<string, string>();
    for (const host of remote.hosts) {
      pages.set(
        host.name,
        await customPage(remote.project.infra_dir, remote.env.name, host) ??
          maintenancePage(host.app_name),
      );
    }
    const owner = lockOwner(`maintenance on --env ${remote.env.name}`);
    const states = new Map<string, string>();
    const step: Step = action === "on"
      ? maintenanceOnStep({
        page: (h) => pages.get(h.name)!,
        note: `${owner.holder}, ${owner.since}`,
      })
      : action === "off"
      ? maintenanceOffStep
      : statusStep(states);
    const quiet = action === "status" && !args.flags.verbose;
    const runUi = quiet ? ui.withVerbosity("quiet") : ui;
    const results = await runOnHosts({
      ui: runUi,
      project: remote.project,
      env: remote.env,
      hosts: remote.hosts,
      parallel: remote.hosts.length,
      dryRun,
      signal: remote.signal,
      executor: (host): Executor => {
        const ssh = remote.executor(host);
        return dryRun
          ? new RecordingExecutor({ host: host.name, sshUser: host.ssh_user, passThrough: ssh })
          : ssh;
      },
      plan: (host): HostPlan => ({
        steps: [step],
        probes: [maintenanceProbe(layoutFor(host))],
        files: maintenanceFiles(host, layoutFor(host)),
        packages: [],
      }),
      appEnv: () => new Map(),
      deployFiles: new Set(),
    });
    if (action === "status") {
      for (const r of results) {
        if (r.ok) ui.result(`${r.host}: maintenance ${states.get(r.host)}`);
        else ui.error(`${r.host}: ${r.error instanceof Error ? r.error.message : r.error}`);
      }
      return results.every((r) => r.ok) ? 0 : 1;
    }
    if (dryRun) {
      for (const r of results) {
        ui.result("");
        ui.result(ui.bold(`${r.host}: a real run would send ${r.recorded?.length ?? 0} commands:`));
        for (const line of r.recorded ?? []) ui.result(`  ${line}`);
      }
    }
    printSummary(
      ui,
      results,
      `maintenance ${action} ${remote.env.name}${dryRun ? " (dry run)" : ""}`,
    );
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await remote.close();
  }
}
