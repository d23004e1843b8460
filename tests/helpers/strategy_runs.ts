/**
 * Host-free runs of a strategy's deploy, activate and rollback on a host
 * where green serves an older release, recorded through the real runner,
 * and the commands they sent as comparable lines.
 */
import "./builtins.ts";
import { join } from "node:path";
import type { Strategy as StrategyName } from "../../lib/config/types.ts";
import {
  type NoteValue,
  noteValue,
  type ReleaseInfo,
  RUN_ID,
  type Step,
} from "../../lib/engine/module_api.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import type { Responder } from "../../lib/exec/recording_executor.ts";
import type { HostPlan } from "../../lib/engine/runner.ts";
import { layoutFor } from "../../lib/host/layout.ts";
import { strategyFor } from "../../lib/strategies/registry.ts";
import { dependencyPlan } from "../../lib/deploy/dependencies.ts";
import { venvDir } from "../../lib/host/layout.ts";
import {
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  loadTestProject,
  type ProbeAnswer,
  withTempDir,
  writeFiles,
} from "./fixtures.ts";
import { configuredHostAnswers, deployPlan, type RecordedRun, runRecorded } from "./plans.ts";
import { unitsShowOutput } from "./plans.ts";

export const NEW = "20261126T070102Z-abc1234";
export const OLD = (n: number) => `20261120T00000${n}Z-000000${n}`;
export const SHARED = "/home/app/apps/hello/shared";
export const RELEASES = "/home/app/apps/hello/releases";
export const OLD_VENV = `${SHARED}/venv-old-py3.11`;

/** The record of an older release, as the host has it. */
export function oldRecord(n: number) {
  return {
    release: OLD(n),
    commit: `c${n}`,
    ref: "main",
    tree: `tree-${n}`,
    venv: OLD_VENV,
    deployed_at: "2026-11-20T00:00:00Z",
    environment: "test",
  };
}

export interface StrategyRun extends RecordedRun {
  readonly loaded: LoadedProject;
  /** The venv this release's dependencies make. */
  readonly venv: string;
  /** What the run sent after reading the facts, one line each (see commandLines). */
  readonly lines: string[];
}

export interface StrategyRunOptions {
  readonly respond?: Responder;
  readonly loseConnection?: (cmd: RemoteCommand) => boolean;
  /** Facts that differ from the default host (green serves release 7, blue holds release 6). */
  readonly facts?: Record<string, ProbeAnswer>;
  readonly notes?: readonly NoteValue[];
  /** What runs: the deploy (default), or the strategy's activate or rollback. */
  readonly run?: "deploy" | "activate" | { rollback: string | undefined };
  /** The live release's static_hash (default: none, so collectstatic runs). */
  readonly staticHash?: string;
}

/**
 * Runs `strategy` on a configured host where green serves release 7 (the
 * `current` link too), blue holds release 6 (stopped; staged for
 * bluegreen), and releases/ keeps 5 to 7.
 */
export async function runStrategy(
  strategy: StrategyName,
  opts: StrategyRunOptions = {},
): Promise<StrategyRun> {
  let out: StrategyRun | undefined;
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      `project_name = "hello"\ndeployment_strategy = "${strategy}"\n[health_check]\npath = "/healthz/"\n`,
    );
    const layout = layoutFor(loaded.host);
    const artifactDir = join(dir, "artifact");
    await writeFiles(artifactDir, { "requirements.txt": "Django\n", "manage.py": "" });
    const release: ReleaseInfo = {
      name: NEW,
      artifactDir,
      commit: "abc1234def5678",
      ref: "main",
      tree: "tree-new",
    };
    const { hash } = await dependencyPlan(loaded.host, artifactDir);
    const venv = venvDir(layout, hash, "3.11");
    const blue = strategy === "bluegreen" ? "staged" : "stopped";
    const state = {
      strategy,
      ...oldRecord(7),
      ...(opts.staticHash ? { static_hash: opts.staticHash } : {}),
      active: "green",
      slots: {
        green: { ...oldRecord(7), state: "active" },
        blue: { ...oldRecord(6), state: blue },
      },
    };
    const what = opts.run ?? "deploy";
    const s = strategyFor(loaded.host);
    const r = await runRecorded({
      loaded,
      plan: what === "deploy"
        ? await deployPlan(loaded.host, loaded.project.repo_dir)
        : commandPlan(
          loaded,
          what === "activate" ? s.activate(loaded.host) : s.rollback(loaded.host, what.rollback),
        ),
      facts: factsStdout({
        ...await configuredHostAnswers(loaded),
        "deploy-state": { out: JSON.stringify(state) },
        "live-socket": { out: "/run/hello-green/hello.sock\n" },
        "live-static": { out: "/home/app/apps/hello/shared/staticfiles-green\n" },
        "current-link": { out: `${RELEASES}/${OLD(7)}\n` },
        "slot-link:blue": { out: `${RELEASES}/${OLD(6)}\n` },
        "slot-static": { out: `${SHARED}/staticfiles-blue\n${SHARED}/staticfiles-green\n` },
        "slot-link:green": { out: `${RELEASES}/${OLD(7)}\n` },
        "slot-units": {
          out: unitsShowOutput({
            "hello-blue.service": `enabled ${strategy === "bluegreen" ? "active" : "inactive"}`,
            "hello-green.service": "enabled active",
          }),
        },
        "venvs": { out: `${OLD_VENV}\n` },
        "releases": {
          out: [5, 6, 7].map((n) => `${OLD(n)}\t${JSON.stringify(oldRecord(n))}\n`).join(""),
        },
        ...opts.facts,
      }),
      respond: opts.respond,
      loseConnection: opts.loseConnection,
      release: what === "deploy" ? release : undefined,
      // A fixed run id: the drain units' names are part of the exact commands.
      notes: [noteValue(RUN_ID, "rtest"), ...opts.notes ?? []],
    });
    out = { ...r, loaded, venv, lines: commandLines(r, dir) };
  });
  return out!;
}

/** The plan `activate` and `rollback` run on a host (lib/commands/activate_rollback.ts), without the history. */
export function commandPlan(loaded: LoadedProject, step: Step): HostPlan {
  const layout = layoutFor(loaded.host);
  const s = strategyFor(loaded.host);
  return {
    steps: [step],
    probes: s.facts(loaded.host, layout),
    files: s.files?.(loaded.host, layout) ?? [],
    packages: [],
  };
}

/**
 * The commands a run sent after the facts, as their shell text: the temp
 * folder reads TMP, a drain unit's hardening properties are left out.
 */
export function commandLines(r: RecordedRun, dir: string): string[] {
  return r.exec.recorded
    .filter((c) => !(c.command && isFactsCommand(c.command)))
    .map((c) => c.text.replaceAll(dir, "TMP").replace(/ -p .*? sh -c /, " -p … sh -c "));
}

/** Whether `cmd` is the health check's probe of `socket`. */
export const isHealthCheck = (socket: string) => (cmd: RemoteCommand) =>
  cmd.argv[0] === "python3" && cmd.argv[3] === socket;
/** Whether `cmd` is the move of the live socket link. */
export const isSwitch = (cmd: RemoteCommand) =>
  cmd.argv[0] === "sh" && cmd.argv.includes("/run/djaploy/hello.sock");
/** Whether `cmd` is the migrate and collectstatic program. */
export const isMigrate = (cmd: RemoteCommand) => cmd.argv.some((a) => a.includes("MIGRATE = "));

/** Command lines as commandLines shows them, for exact expectations. */
export const line = {
  app: (cmd: string) => `sudo -n -H -u app -- ${cmd}`,
  root: (cmd: string) => `sudo -n -H -- ${cmd}`,
  upload: (dest: string, linkDest?: string) =>
    `rsync --delete ${
      linkDest ? `--link-dest=${linkDest} ` : ""
    }TMP/artifact/ -> ${dest}/ (as app)`,
  buildVenv: (venv: string, dir: string) =>
    line.app(
      `sh -c 'set -e…' sh ${venv} python3.11 pip 0 ${dir} '' /etc/djaploy/apps/hello/dependencies.env`,
    ),
  /** `statics`: the STATIC_ROOT collectstatic writes and the code reads (a slot's folder). */
  manage: (dir: string, venv: string, statics: string) =>
    line.app(
      `env -C ${dir} /etc/djaploy/apps/hello/run env STATIC_ROOT=${statics} ${venv}/bin/python manage.py shell -c 'from django.conf import settings…'`,
    ),
  diagnose: (dir: string, venv: string, statics: string) =>
    line.app(
      `env -C ${dir} timeout 60 /etc/djaploy/apps/hello/run env STATIC_ROOT=${statics} ${venv}/bin/python manage.py shell -c 'import logging, re, sys, traceback…'`,
    ),
  /** The idle slot's static folder becomes hard links to the live one's (collectstatic skipped). */
  seedStatic: (from: string, to: string) => line.app(`sh -c 'set -e…' sh ${from} ${to}`),
  unitFile: (slot: string) =>
    line.root(
      `sh -c 'set -e…' sh /etc/systemd/system/hello-${slot}.service root:root 0644 < [stdin]`,
    ),
  link: (link: string, dest: string) => line.app(`sh -c 'set -e…' sh ${link} ${dest}`),
  /** A slot's start (lib/strategies/start_unit.sh). */
  start: (unit: string) =>
    line.root(
      `sh -c '# systemctl restart UNIT (again after a CGROUP failure), as …' sh ${unit}`,
    ),
  health: (socket: string) =>
    `sudo -n -H -u app -- python3 -c 'import re, socket, sys, time…' ${socket} /healthz/ 10.0.0.1 200 100 0.1`,
  /** The live-static link to `statics`, then the live-socket link to `socket`, in one command. */
  switchTo: (socket: string, statics: string) =>
    line.root(
      `sh -c 'set -e…' sh /var/lib/djaploy/apps/hello/static ${statics} /run/djaploy/hello.sock ${socket}`,
    ),
  state: (slot: string) =>
    line.root(
      `sh -c 'umask 022; mkdir -p "\${1%/*}" && cat > "$1.new" && mv -f "$1.new" "$1" && if [ -n "$3" ]; then printf "%s\\n" "$3" > "$2.new" && mv -f "$2.new" "$2"; fi' sh /var/lib/djaploy/apps/hello/state.json /var/lib/djaploy/apps/hello/active-slot ${slot} < [stdin]`,
    ),
  drain: (slot: string) =>
    line.root(
      `systemd-run --quiet --collect --no-block --unit=djaploy-drain-hello-${slot}-rtest.service -p … sh -c 'i=0…' sh hello-${slot}.service /run/hello-${slot}/hello.sock /run/djaploy/hello.sock`,
    ),
};

/** The slot-units probe's answer for units given as "enabled active" pairs. */
export function unitsAnswer(units: Readonly<Record<string, string>>): ProbeAnswer {
  return { out: unitsShowOutput(units) };
}
