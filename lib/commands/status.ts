/** `status` and `releases`: what runs where, read in one round trip per host. */
import type { CommandDef, Parsed } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS, sessionRunOptions } from "./common.ts";
import { layoutFor, SLOTS } from "../host/layout.ts";
import { type ReleaseEntry, releasesProbe } from "../strategies/releases.ts";
import { strategyFor } from "../strategies/registry.ts";
import { traitsNamed } from "../strategies/traits.ts";
import { slotFacts, slotOf, slotUnitsProbe } from "../strategies/slots.ts";
import { liveState } from "../deploy/steps.ts";
import { runOnHosts } from "../engine/runner.ts";
import { appUnitsProbe } from "../host/probes.ts";
import {
  type JobStatus,
  jobStatus,
  processStatusProbe,
  processUnitName,
} from "../deploy/processes.ts";
import { table } from "../output/ui.ts";
import type { Step } from "../engine/module_api.ts";
import { type LockState, lockStateProbe } from "./unlock.ts";
import { describeOwner } from "../host/deploy_lock.ts";

export const statusCommand: CommandDef = {
  name: "status",
  summary:
    "Per host: strategy, the live release, both slots, the state of the app's services, and who holds the deploy lock.",
  flags: [
    ...HOST_FLAGS,
    { name: "json", type: "boolean", description: "Print JSON" },
    ...COMMON_FLAGS,
  ],
};

export const releasesCommand: CommandDef = {
  name: "releases",
  summary: "zero_downtime: the releases kept on each host, and which is current.",
  flags: [
    ...HOST_FLAGS,
    { name: "json", type: "boolean", description: "Print JSON" },
    ...COMMON_FLAGS,
  ],
};

export interface HostStatus {
  readonly host: string;
  readonly strategy: string;
  readonly live?: {
    release: string;
    commit: string;
    ref: string;
    deployed_at: string;
    version?: string;
  };
  readonly active_slot?: string;
  readonly current?: string;
  readonly slots: Record<
    string,
    {
      release?: string;
      commit?: string;
      version?: string;
      venv?: string;
      state?: string;
      unit: string;
      unit_state: string;
    }
  >;
  readonly services: Record<string, string>;
  /** `[processes]`: each unit's ActiveState, by process name. */
  readonly processes: Record<string, { unit: string; state: string }>;
  /** `[[schedule]]`: each job's last and next run, by name. */
  readonly schedule: Record<string, JobStatus>;
  readonly releases: readonly ReleaseEntry[];
  /** The app's deploy lock: held while a deploy, activate or rollback runs, and by whom. */
  readonly deploy_lock: {
    readonly held: boolean;
    readonly holder?: string;
    readonly command?: string;
    readonly since?: string;
  };
}

function lockOf(state: LockState): HostStatus["deploy_lock"] {
  if (!state.held) return { held: false };
  const { holder, command, since } = state.record.owner ?? {};
  return { held: true, holder, command, since };
}

const collect: (out: Map<string, HostStatus>) => Step = (out) => ({
  name: "read status",
  run(ctx) {
    const state = liveState(ctx);
    const units = ctx.facts.get(slotUnitsProbe(ctx.host, ctx.layout));
    const services = ctx.facts.get(appUnitsProbe(ctx.host));
    const procs = ctx.facts.get(processStatusProbe(ctx.host));
    const slots: HostStatus["slots"] = {};
    for (const s of SLOTS) {
      const sl = slotOf(ctx, s);
      const rec = state?.slots?.[s];
      slots[s] = {
        release: rec?.release,
        commit: rec?.commit,
        version: rec?.version,
        venv: rec?.venv,
        state: rec?.state,
        unit: sl.unitName,
        unit_state: units.get(sl.unitName)?.active ?? "inactive",
      };
    }
    out.set(ctx.host.name, {
      host: ctx.host.name,
      strategy: state?.strategy ?? ctx.host.deployment_strategy,
      live: state?.release
        ? {
          release: state.release,
          commit: state.commit,
          ref: state.ref,
          deployed_at: state.deployed_at,
          version: state.version,
        }
        : undefined,
      active_slot: state?.active,
      current: strategyFor(ctx.host).releases?.current(ctx),
      slots,
      services: Object.fromEntries([...services].map(([k, v]) => [k, v.active])),
      processes: Object.fromEntries(
        Object.keys(ctx.host.processes).map((name) => {
          const unit = processUnitName(ctx.host, name);
          return [name, { unit, state: procs.get(unit)?.ActiveState ?? "unknown" }];
        }),
      ),
      schedule: Object.fromEntries(
        ctx.host.schedule.map((e) => [e.name, jobStatus(ctx.host, e, procs)]),
      ),
      releases: ctx.facts.get(releasesProbe(ctx.layout)),
      deploy_lock: lockOf(ctx.facts.get(lockStateProbe(ctx.host.app_name))),
    });
    return Promise.resolve();
  },
});

async function gather(
  ui: Ui,
  args: Parsed,
  name: string,
): Promise<{ code: number; statuses: HostStatus[] }> {
  const s = await openSession(ui, args.flags, name);
  try {
    const out = new Map<string, HostStatus>();
    const results = await runOnHosts({
      ...sessionRunOptions(s, ui),
      plan: (host) => {
        const layout = layoutFor(host);
        return {
          steps: [collect(out)],
          probes: [
            ...slotFacts(host, layout),
            releasesProbe(layout),
            processStatusProbe(host),
            lockStateProbe(host.app_name),
          ],
          files: [],
          packages: [],
        };
      },
    });
    for (const r of results) {
      if (!r.ok) ui.error(`${r.host}: ${r.error instanceof Error ? r.error.message : r.error}`);
    }
    return {
      code: results.every((r) => r.ok) ? 0 : 1,
      statuses: s.hosts.map((h) => out.get(h.name)).filter((x): x is HostStatus => !!x),
    };
  } finally {
    await s.close();
  }
}

function quietUi(ui: Ui, args: Parsed): Ui {
  // Step lines would get in the way of a table or JSON.
  return args.flags.verbose ? ui : ui.withVerbosity("quiet");
}

export async function status(ui: Ui, args: Parsed): Promise<number> {
  const { code, statuses } = await gather(quietUi(ui, args), args, "status");
  if (args.flags.json) {
    ui.result(JSON.stringify(statuses, null, 2));
    return code;
  }
  for (const st of statuses) {
    ui.result(ui.bold(`${st.host}  ${st.strategy}`));
    ui.result(
      `  live: ${
        st.live
          ? `${st.live.version ? `${st.live.version} ` : ""}${st.live.release} (${st.live.ref} ${
            st.live.commit.slice(0, 7)
          }, deployed ${st.live.deployed_at})`
          : "nothing deployed"
      }`,
    );
    if (traitsNamed(st.strategy)?.hasSlots ?? true) {
      for (const [slot, info] of Object.entries(st.slots)) {
        const mark = st.active_slot === slot ? "*" : " ";
        ui.result(
          `  ${mark} ${slot.padEnd(5)}  ${info.version ? `${info.version} ` : ""}${
            info.release ?? "empty"
          }  ${info.commit?.slice(0, 7) ?? ""}  ${
            info.state ?? ""
          }  ${info.unit} ${info.unit_state}`,
        );
      }
    }
    for (const [svc, state] of Object.entries(st.services)) ui.result(`  service ${svc}: ${state}`);
    for (const [name, p] of Object.entries(st.processes)) {
      ui.result(`  process ${name} (${p.unit}): ${p.state}`);
    }
    for (const [name, j] of Object.entries(st.schedule)) ui.result(`  ${jobLine(name, j)}`);
    if (st.deploy_lock.held) {
      const { holder, command, since } = st.deploy_lock;
      const owner = holder && command && since ? { holder, command, since } : undefined;
      ui.result(`  deploy lock: held by ${describeOwner(owner)}`);
    }
  }
  return code;
}

/** `schedule NAME (WHEN): last run failed (exit-code 1) at ...; next ...`. */
export function jobLine(name: string, j: JobStatus): string {
  const outcome = j.last === "failed"
    ? `last run FAILED (${j.result ?? "?"}${j.exit_status ? `, exit status ${j.exit_status}` : ""})`
    : j.last === "never run" || j.last === "running"
    ? j.last
    : `last run ${j.last}`;
  return `schedule ${name} (${j.on_calendar}): ${outcome}${j.last_run ? ` at ${j.last_run}` : ""}${
    j.next_run ? `; next ${j.next_run}` : ""
  }${j.last === "failed" ? `; see: djaploy logs ${name}` : ""}`;
}

export async function releases(ui: Ui, args: Parsed): Promise<number> {
  const { code, statuses } = await gather(quietUi(ui, args), args, "releases");
  if (args.flags.json) {
    ui.result(
      JSON.stringify(
        statuses.map((s) => ({ host: s.host, current: s.current, releases: s.releases })),
        null,
        2,
      ),
    );
    return code;
  }
  for (const st of statuses) {
    ui.result(ui.bold(st.host));
    if (st.releases.length === 0) {
      ui.result("  no releases (zero_downtime keeps them in releases/)");
    }
    const rows = st.releases.map((r) => [
      r.name === st.current ? "*" : " ",
      r.name,
      r.failed
        ? "failed"
        : String((r.record as { commit?: string } | undefined)?.commit ?? "").slice(0, 7),
      String((r.record as { ref?: string } | undefined)?.ref ?? ""),
    ]);
    for (const line of table(rows)) ui.result(`  ${line}`);
  }
  return code;
}
