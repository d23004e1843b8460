/**
 * The host plans `djaploy configure` and `djaploy deploy` build (lib/commands/),
 * and a run of one on recorded hosts through the real runner.
 */
import "./builtins.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import type { NoteValue, Phase, ReleaseInfo } from "../../lib/engine/module_api.ts";
import { loadModules } from "../../lib/engine/module_loader.ts";
import {
  type HostPlan,
  type HostResult,
  modulePlanParts,
  runOnHosts,
} from "../../lib/engine/runner.ts";
import { strategyFor } from "../../lib/strategies/registry.ts";
import { layoutFor } from "../../lib/host/layout.ts";
import {
  RecordingExecutor,
  type RecordingOptions,
  type Responder,
} from "../../lib/exec/recording_executor.ts";
import type { Secret } from "../../lib/secrets/secret.ts";
import { SecretResolver } from "../../lib/secrets/resolve.ts";
import type { Ui } from "../../lib/output/ui.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import { UserError } from "../../lib/errors.ts";
import { appDirs, rootDirs } from "../../modules/core/mod.ts";
import { processUnitFiles } from "../../lib/deploy/processes.ts";
import type { HookRun } from "../../lib/engine/hooks.ts";
import { releaseCommandStep } from "../../lib/deploy/release_command.ts";
import {
  collectingUi,
  factsAnswer,
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  type ProbeAnswer,
  sha256sumOutput,
  writtenFiles,
} from "./fixtures.ts";

/** As `djaploy configure` plans a host. */
export async function configurePlan(host: HostConfig, repoDir: string): Promise<HostPlan> {
  const modules = await loadModules(host.modules, repoDir);
  return {
    ...modulePlanParts(modules, host),
    steps: modules.flatMap((m) => m.steps?.configure ?? []),
  };
}

/** As `djaploy deploy` plans a host; `leader` runs the release command (default: this host). */
export async function deployPlan(
  host: HostConfig,
  repoDir: string,
  leader = host.name,
): Promise<HostPlan> {
  const modules = await loadModules(host.modules, repoDir);
  const strategy = strategyFor(host);
  const parts = modulePlanParts(modules, host);
  const phase = (p: Phase) => [
    ...modules.flatMap((m) => m.steps?.[p] ?? []),
    ...(p === "deploy:pre" && host.release.command !== undefined
      ? [releaseCommandStep(leader)]
      : []),
  ];
  return {
    ...parts,
    probes: [...parts.probes, ...strategy.facts(host, layoutFor(host))],
    steps: strategy.plan(phase),
  };
}

export interface RecordedRun {
  readonly result: HostResult;
  readonly exec: RecordingExecutor;
  readonly out: string;
  readonly err: string;
  /** The run's UI: its mask holds the secrets the run resolved. */
  readonly ui: Ui;
}

/** Runs `plan` on the loaded project's host through runOnHosts, with a recording executor. */
export async function runRecorded(opts: {
  loaded: LoadedProject;
  plan: HostPlan;
  /** The facts command's stdout. */
  facts: string;
  /** Answers for the other commands. */
  respond?: Responder;
  syncChanged?: RecordingOptions["syncChanged"];
  release?: ReleaseInfo;
  appEnv?: ReadonlyMap<string, string | Secret>;
  force?: boolean;
  /** What every step starts with in ctx.shared (command options, the deploy's version). */
  notes?: readonly NoteValue[];
  /** Resolve the config's secret references (ctx.secret), masked in the output. */
  secrets?: boolean;
  /** Collects the commands of each round trip that is a chain, in order. */
  chains?: RemoteCommand[][];
  /** The command's hooks (ctx.hook). */
  hooks?: HookRun;
  /**
   * The ssh connection drops while this command runs (it is recorded, its
   * round trip's later commands are not): the error ssh's executor throws.
   */
  loseConnection?: (cmd: RemoteCommand) => boolean;
  /** The output of -v (the steps' debug lines). */
  verbose?: boolean;
}): Promise<RecordedRun> {
  const { ui, out, err } = collectingUi(opts.verbose ? "verbose" : "normal");
  const secrets = opts.secrets
    ? new SecretResolver({
      onSecret: (v) => ui.addSecret(v),
      baseDir: opts.loaded.project.repo_dir,
    })
    : undefined;
  let exec: RecordingExecutor | undefined;
  const { project, env, host } = opts.loaded;
  const results = await runOnHosts({
    ui,
    project,
    env,
    hosts: [host],
    parallel: 1,
    dryRun: false,
    signal: new AbortController().signal,
    release: opts.release,
    executor: (h) => {
      exec = new RecordingExecutor({
        host: h.name,
        sshUser: h.ssh_user,
        respond: (cmd) => isFactsCommand(cmd) ? factsAnswer(cmd, opts.facts) : opts.respond?.(cmd),
        syncChanged: opts.syncChanged,
      });
      const chain = exec.chain.bind(exec);
      const run = exec.run.bind(exec);
      const lost = () =>
        new UserError(
          `Cannot connect to ${h.name} (${h.ssh_user}@${h.ssh_hostname}): ` +
            `Connection to ${h.ssh_hostname} closed by remote host.`,
        );
      exec.chain = async (cmds) => {
        opts.chains?.push([...cmds]);
        const at = opts.loseConnection ? cmds.findIndex(opts.loseConnection) : -1;
        if (at === -1) return await chain(cmds);
        const r = await chain(cmds.slice(0, at + 1));
        if (r.failed !== undefined) return r;
        throw lost();
      };
      exec.run = async (cmd) => {
        const r = await run(cmd);
        if (opts.loseConnection?.(cmd)) throw lost();
        return r;
      };
      return exec;
    },
    plan: () => opts.plan,
    appEnv: () => opts.appEnv ?? new Map(),
    deployFiles: new Set(),
    force: opts.force,
    notes: opts.notes,
    secrets,
    hooks: opts.hooks,
  });
  return { result: results[0], exec: exec!, out: out.join(""), err: err.join(""), ui };
}

/**
 * Probe answers of a host that `configure` has fully set up: everything
 * installed, enabled and running, and the managed files hold exactly what a
 * run would write (found by recording a configure run on a fresh host).
 */
export async function configuredHostAnswers(
  loaded: LoadedProject,
  appEnv?: ReadonlyMap<string, string | Secret>,
  opts: { secrets?: boolean } = {},
): Promise<Record<string, ProbeAnswer>> {
  const { host, project } = loaded;
  const plan = await configurePlan(host, project.repo_dir);
  const fresh = await runRecorded({
    loaded,
    plan,
    facts: factsStdout({}),
    appEnv,
    secrets: opts.secrets,
  });
  const files = writtenFiles(fresh.exec.recorded);
  // The processes' units wait for a release to run (a deploy writes them).
  const processFiles = new Set(processUnitFiles(host));
  const expected = plan.files.filter((f) => !processFiles.has(f));
  if (files.size !== expected.length) {
    throw new Error(`expected a fresh configure to write ${expected.join(", ")}`);
  }
  const layout = layoutFor(host);
  return {
    [`user:${host.app_user}`]: { out: `${host.app_user}:x:1001:1001::/home/app:/bin/bash\n` },
    "core:dirs": { out: [...rootDirs(layout), ...appDirs(layout)].map((d) => `${d}\n`).join("") },
    "packages": { out: plan.packages.map((p) => `${p} installed\n`).join("") },
    "nginx": {
      out: `link=${layout.nginxSitePath}\nActiveState=active\nUnitFileState=enabled\nacme=1\n`,
    },
    "units": {
      out: unitsShowOutput(Object.fromEntries(host.services.map((s) => [s, "enabled active"]))),
    },
    "live-socket": { out: `${layout.socketPath}\n` },
    "live-static": { out: `${layout.staticRoot}\n` },
    "nginx:media-acl": { out: "yes\n" },
    "file-hashes": { out: sha256sumOutput(files) },
  };
}

/**
 * What `systemctl show --property=Id,UnitFileState,ActiveState` prints for
 * units, given as "enabled active" pairs ("" for a unit systemd does not know).
 */
export function unitsShowOutput(units: Readonly<Record<string, string>>): string {
  return Object.entries(units).map(([unit, state]) => {
    const [enabled = "", active = "inactive"] = state.split(" ");
    const id = unit.includes(".") ? unit : `${unit}.service`;
    return `Id=${id}\nActiveState=${active}\nUnitFileState=${enabled}\n`;
  }).join("\n");
}

/** The record of an older good release `n` (1-9) of the test project, as state.json keeps it. */
function olderRelease(loaded: LoadedProject, n: number) {
  return {
    release: `20261120T00000${n}Z-0000000`,
    commit: `c${n}`,
    ref: "main",
    tree: `tree-${n}`,
    venv: `${layoutFor(loaded.host).sharedDir}/venv-old-py3.11`,
    deployed_at: "2026-11-20T00:00:00Z",
    environment: "test",
  };
}

/**
 * The facts of a configured host of `strategy` where green serves release 7
 * and blue holds release 6, stopped: seven good releases, so that pruning has
 * work to do. `more` adds or replaces answers.
 */
export async function greenServesFacts(
  loaded: LoadedProject,
  strategy: "zero_downtime" | "bluegreen",
  more: Record<string, ProbeAnswer> = {},
): Promise<string> {
  const layout = layoutFor(loaded.host);
  const old = (n: number) => olderRelease(loaded, n);
  const state = {
    strategy,
    ...old(7),
    active: "green",
    slots: { green: { ...old(7), state: "active" }, blue: { ...old(6), state: "stopped" } },
  };
  return factsStdout({
    ...await configuredHostAnswers(loaded),
    "deploy-state": { out: JSON.stringify(state) },
    "live-socket": { out: "/run/hello-green/hello.sock\n" },
    "live-static": { out: `${layout.sharedDir}/staticfiles-green\n` },
    "current-link": { out: `${layout.releasesDir}/${old(7).release}\n` },
    "slot-units": {
      out: unitsShowOutput({
        "hello-blue.service": "enabled inactive",
        "hello-green.service": "enabled active",
      }),
    },
    "releases": {
      out: [1, 2, 3, 4, 5, 6, 7].map((n) => `${old(n).release}\t${JSON.stringify(old(n))}\n`)
        .join(""),
    },
    ...more,
  });
}

/** The release a test deploys: a one-line change (its tree differs from every older one's). */
export function newRelease(artifactDir: string): ReleaseInfo {
  return {
    name: "20261126T070102Z-abc1234",
    artifactDir,
    commit: "abc1234def5678",
    ref: "main",
    tree: "tree-new",
  };
}
