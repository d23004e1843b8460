/** `djaploy deploy`: build an artifact from git and roll it out with the host's strategy. */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import { loadConfig, openSession, requireEnv } from "../engine/session.ts";
import { hostsToRetry, lastRunPath, readLastRun, recordRun } from "../engine/last_run.ts";
import { loadEnvironment } from "../config/load.ts";
import type { Ui } from "../output/ui.ts";
import {
  commandHooks,
  COMMON_FLAGS,
  HOST_FLAGS,
  JSON_FLAG,
  LOCK_FLAGS,
  modulePlanParts,
  openEarly,
  runExitCode,
  runPlan,
} from "./common.ts";
import { releaseCommandStep } from "../deploy/release_command.ts";
import type { HostPlan } from "../engine/runner.ts";
import type { HostConfig } from "../config/types.ts";
import type { Session, SessionFlags } from "../engine/session.ts";
import { UsageError, UserError } from "../errors.ts";
import { type ArtifactMode, buildArtifact, releaseCommit } from "../deploy/artifact.ts";
import { IncludeError } from "../deploy/artifact_include.ts";
import { displayPath } from "../config/load.ts";
import { formatProblems } from "../config/problems.ts";
import { ConfigError } from "../errors.ts";
import type { ProjectConfig } from "../config/types.ts";
import { strategyFor } from "../strategies/registry.ts";
import { ACTIVATE } from "../strategies/strategy.ts";
import { layoutFor } from "../host/layout.ts";
import { runProcess } from "../exec/process.ts";
import { noteValue, type Phase } from "../engine/module_api.ts";
import { cacheDir } from "../cache.ts";
import { formatMs } from "../output/ui.ts";
import { BUMP_FLAGS, bumpFromFlags } from "../release/semver.ts";
import { type ReleasePipeline, releasePipeline } from "../release/pipeline.ts";
import { type Interrupt, NO_INTERRUPT, throwIfStopped } from "../cli/interrupt.ts";
import { uncommittedChanges } from "../release/git.ts";
import { type MaxFail, maxFailCount, parseMaxFail } from "../config/max_fail.ts";
import { Invalid } from "../config/validators.ts";

export const deployCommand = {
  name: "deploy",
  summary:
    "Deploy the app: build from git, ship, install dependencies, migrate, collectstatic, restart.",
  flags: [
    ...HOST_FLAGS,
    { name: "latest", type: "boolean", description: "Deploy HEAD of the repository (the default)" },
    {
      name: "local",
      type: "boolean",
      description: "Deploy the working tree as it is, uncommitted changes included",
    },
    { name: "release", type: "string", valueName: "TAG", description: "Deploy this git tag" },
    { name: "skip-prepare", type: "boolean", description: "Do not run [prepare] commands first" },
    {
      name: "force",
      type: "boolean",
      description: "Redeploy even when the same code is already live",
    },
    {
      name: "activate",
      type: "boolean",
      description: "bluegreen: activate the new slot once every host staged it",
    },
    {
      name: "batch-size",
      type: "number",
      valueName: "N",
      description: "Hosts at a time; a failed batch stops the rollout (default: rolling, or all)",
    },
    {
      name: "retry-failed",
      type: "boolean",
      description:
        "Deploy only the hosts that failed, stopped or were not started in the last deploy",
    },
    {
      name: "max-fail",
      type: "string",
      valueName: "N|N%",
      description: "Hosts that may fail before a rolling deploy stops (default: max_fail, or 0)",
    },
    {
      name: "canary",
      type: "string",
      valueName: "N",
      description:
        "Deploy the first N hosts first; the rest start once they pass (default: canary, or 0)",
    },
    { name: "dry-run", type: "boolean", description: "Show the commands per host, change nothing" },
    ...BUMP_FLAGS,
    ...LOCK_FLAGS,
    JSON_FLAG,
    ...COMMON_FLAGS,
  ],
} as const satisfies CommandDef;

export function artifactMode(
  flags: { readonly latest?: true; readonly local?: true; readonly release?: string },
): { mode: ArtifactMode; tag?: string } {
  const given = (["latest", "local", "release"] as const).filter((f) => flags[f] !== undefined);
  if (given.length > 1) {
    throw new UsageError(
      `Choose one of --latest, --local and --release: got ${
        given.map((g) => `--${g}`).join(" and ")
      }`,
    );
  }
  if (given[0] === "release") return { mode: "release", tag: flags.release };
  return { mode: given[0] ?? "latest" };
}

export async function deploy(
  ui: Ui,
  args: ParsedFor<typeof deployCommand>,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<number> {
  const { mode, tag } = artifactMode(args.flags);
  const maxFailFlag = maxFailOption(args.flags["max-fail"]);
  const canaryFlag = canaryOption(args.flags.canary);
  const bump = bumpFromFlags(args.flags);
  const flags = args.flags["retry-failed"] ? await retryFailedFlags(ui, args.flags) : args.flags;
  if (!flags) return 0;
  if (mode === "release") {
    // A mistyped tag fails here, before any secret, connection or lock.
    await releaseCommit((await loadConfig(flags)).repo_dir, tag!);
  }
  const s = await openSession(ui, flags, "deploy", interrupt);
  try {
    for (const host of s.hosts) strategyFor(host);
    const commandLine = `deploy --env ${s.env.name}${
      mode === "release" ? ` --release ${tag}` : ` --${mode}`
    }`;
    const activate = Boolean(args.flags.activate);
    const batchSize = args.flags["batch-size"] ?? s.hosts[0]?.rolling;
    const canary = canaryFlag ?? s.env.canary;
    // Hosts wait for each other at barriers: a staging strategy's activation, the release command.
    const together = s.hosts.some((h) => strategyFor(h).stages || h.release.command !== undefined);
    const pipeline = releasePipeline(s, { mode, tag, bump, commandLine, activate });
    const hooks = commandHooks(s, "deploy");
    const plans = new Map<string, Promise<HostPlan>>();
    const lockRun = {
      lock: true,
      lockWait: args.flags["lock-wait"],
      commandLine,
      plan: (host: HostConfig) => {
        if (!plans.has(host.name)) plans.set(host.name, hostPlan(s, host, pipeline));
        return plans.get(host.name)!;
      },
    };
    // The hosts that start first log in, take the lock and read their state while the artifact builds.
    const opening = await openEarly(
      s,
      lockRun,
      canary > 0 && canary < s.hosts.length
        ? canary
        : batchSize
        ? batchSize
        : together
        ? s.hosts.length
        : s.parallel,
    );
    try {
      if (!args.flags["skip-prepare"]) {
        await pipeline.stage(
          "prepare",
          () =>
            runPrepare(ui, s.project.prepare.commands, {
              cwd: s.project.repo_dir,
              dryRun: s.dryRun,
              stop: s.stop,
            }),
        );
      }
      throwIfStopped(s.stop, "building the artifact");
      if (mode === "latest") await warnUncommitted(ui, s.project.repo_dir);
      const t = performance.now();
      const include = s.project.artifact?.include ?? [];
      if (mode === "release" && include.length) {
        await warnReleaseOutputs(ui, s.project.repo_dir, tag!);
      }
      const artifactCache = await cacheDir(s.project);
      const release = await pipeline.stage("build artifact", () =>
        buildArtifact({
          mode,
          tag,
          projectDir: s.project.repo_dir,
          cacheDir: artifactCache,
          appName: s.project.project_name,
          prune: !s.dryRun,
          include,
          // A dry run ran no [prepare]: outputs not built yet are left out, and said so.
          missingOk: s.dryRun && !args.flags["skip-prepare"],
        }).catch(async (err) => {
          throw err instanceof IncludeError ? await includeConfigError(s.project, err) : err;
        }));
      for (const path of release.missing) {
        ui.line(`dry run: [artifact] include ${path} is not built yet ([prepare] did not run)`);
      }
      const shipped = include.filter((p) => !release.missing.includes(p));
      ui.line(
        `artifact ${release.name} (${release.ref} ${release.commit.slice(0, 7)}${
          shipped.length ? ` + ${shipped.join(", ")}` : ""
        }) ready  ${ui.dim(formatMs(performance.now() - t))}`,
      );
      throwIfStopped(s.stop, "the version and changelog");
      await pipeline.stage("version", () => pipeline.prepare(release));
      throwIfStopped(s.stop, "the hosts' steps");
      const results = await runPlan(s, {
        ...lockRun,
        title: `deploy ${release.ref} ${release.commit.slice(0, 7)} to ${s.env.name}${
          s.dryRun ? " (dry run)" : ""
        }`,
        release,
        force: Boolean(args.flags.force),
        notes: [noteValue(ACTIVATE, activate), ...pipeline.notes()],
        batchSize,
        maxFail: maxFailCount(maxFailFlag ?? s.env.max_fail, s.hosts.length),
        canary,
        together,
        opening,
        hooks,
      });
      if (!s.dryRun) {
        await recordRun(s.project, s.env.name, results, release.name).catch((e) =>
          ui.warn(`Could not record this deploy's results for --retry-failed: ${e}`)
        );
        if (results.some((r) => !r.ok)) {
          ui.result(
            `Fix the failed hosts, then finish the rollout: djaploy deploy --env ${s.env.name} ` +
              "--retry-failed",
          );
        }
      }
      await pipeline.finish(results);
      return results.length > 0 ? runExitCode(results, hooks) : 1;
    } finally {
      await Promise.all([...opening.values()].map((o) => o.release()));
    }
  } finally {
    await s.close();
  }
}

/**
 * --retry-failed: the flags with --hosts set to the hosts that did not
 * succeed in the last deploy to the environment; undefined when none is left.
 */
export async function retryFailedFlags<F extends SessionFlags>(
  ui: Ui,
  flags: F,
): Promise<(F & { readonly hosts: string }) | undefined> {
  if (flags.hosts !== undefined) {
    throw new UsageError("Choose one of --hosts and --retry-failed: got both");
  }
  const project = await loadConfig(flags);
  const envName = requireEnv(flags, "deploy");
  const last = await readLastRun(project, envName);
  if (!last) {
    throw new UsageError(
      `Deploy to ${envName} first: --retry-failed deploys to the hosts that failed in the last ` +
        `deploy, and this machine has no record of one (${lastRunPath(project, envName)})`,
      { hint: `Name the hosts instead: djaploy deploy --env ${envName} --hosts A,B` },
    );
  }
  const env = await loadEnvironment(project, envName);
  const retry = hostsToRetry(last, env.hosts.map((h) => h.name));
  if (retry.length === 0) {
    ui.result(`Nothing to retry: every host of ${envName} succeeded in the last deploy it was in`);
    return undefined;
  }
  ui.line(`retrying ${retry.join(", ")}: failed, stopped or not started in the last deploy`);
  return { ...flags, hosts: retry.join(",") };
}

/** `--max-fail 2` or `--max-fail 25%`: checked like max_fail in the config. */
export function maxFailOption(value: string | undefined): MaxFail | undefined {
  if (value === undefined) return undefined;
  try {
    return parseMaxFail(/^\d+$/.test(value) ? Number(value) : value);
  } catch (e) {
    if (e instanceof Invalid) throw new UsageError(`--max-fail ${e.problem}`);
    throw e;
  }
}

/** `--canary N`: a whole number of hosts, 0 (no canary) or more. */
export function canaryOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value)) {
    throw new UsageError(`--canary must be a number of hosts (0 or more): got "${value}"`);
  }
  return Number(value);
}

/** Says which tracked files differ from HEAD: a deploy of HEAD does not ship them. */
export async function warnUncommitted(ui: Ui, repoDir: string): Promise<void> {
  const changed = await uncommittedChanges(repoDir);
  if (changed.length === 0) return;
  const shown = changed.slice(0, 5).join(", ") + (changed.length > 5 ? ", ..." : "");
  ui.warn(
    `Commit your changes to deploy them, or ship the working tree with --local: ` +
      `${changed.length} tracked file${changed.length === 1 ? "" : "s"} differ from HEAD, ` +
      `which this deploy ships without them (${shown})`,
  );
}

async function hostPlan(
  s: Session,
  host: HostConfig,
  pipeline: ReleasePipeline,
): Promise<HostPlan> {
  const modules = await s.modules(host);
  const strategy = strategyFor(host);
  const parts = modulePlanParts(modules, host);
  // The release command ends deploy:pre: the new code is ready, no traffic moved yet.
  const release = releaseCommandStep(s.hosts[0].name);
  const phase = (p: Phase) => [
    ...modules.flatMap((m) => m.steps?.[p] ?? []),
    ...(p === "deploy:pre" && host.release.command !== undefined ? [release] : []),
  ];
  return {
    ...parts,
    probes: [...parts.probes, ...strategy.facts(host, layoutFor(host))],
    files: [...parts.files, ...(strategy.files?.(host, layoutFor(host)) ?? [])],
    steps: pipeline.steps(strategy.plan(phase)),
  };
}

/** An [artifact] include path that cannot be shipped, as a config error naming file:line and key. */
async function includeConfigError(project: ProjectConfig, err: IncludeError): Promise<ConfigError> {
  const source = await Deno.readTextFile(project.config_path).catch(() => "");
  const file = displayPath(project.config_path, project.cwd ?? Deno.cwd());
  const [message] = formatProblems(
    [{ path: ["artifact", "include", err.index], message: err.problem }],
    file,
    source,
  );
  return new ConfigError(message, { hint: err.hint });
}

/**
 * --release ships build outputs from the working tree, where [prepare] ran:
 * says so when the working tree is not at the tag's commit.
 */
async function warnReleaseOutputs(ui: Ui, repoDir: string, tag: string): Promise<void> {
  const [head, tagged] = await Promise.all([
    runProcess("git", ["rev-parse", "-q", "--verify", "HEAD^{commit}"], { cwd: repoDir }),
    runProcess("git", ["rev-parse", "-q", "--verify", `refs/tags/${tag}^{commit}`], {
      cwd: repoDir,
    }),
  ]);
  if (head.stdout.trim() === tagged.stdout.trim()) return;
  ui.warn(
    `Check out ${tag} before deploying it to ship its own build outputs: [artifact] include ` +
      `takes them from the working tree, which [prepare] built at ${
        head.stdout.trim().slice(0, 7) || "no commit"
      }, not at ${tagged.stdout.trim().slice(0, 7)}`,
  );
}

/** Runs the [prepare] commands on this machine; a dry run lists them and runs none. */
export async function runPrepare(
  ui: Ui,
  commands: readonly string[],
  opts: { cwd: string; dryRun: boolean; stop?: AbortSignal },
): Promise<void> {
  const { cwd } = opts;
  const stop = opts.stop ?? new AbortController().signal;
  for (const command of commands) {
    if (opts.dryRun) {
      ui.line(`prepare: would run: ${command}`);
      continue;
    }
    throwIfStopped(stop, `prepare command "${command}"`);
    ui.line(`prepare: ${command}`);
    // Local work changes no host: SIGINT/SIGTERM ends it at once.
    const r = await runProcess("sh", ["-c", command], { cwd, signal: stop }).catch((err) => {
      throwIfStopped(stop, `the end of prepare command "${command}"`);
      throw err;
    });
    throwIfStopped(stop, `the end of prepare command "${command}"`);
    if (r.code !== 0) {
      throw new UserError(`Fix the prepare command "${command}": it exited with code ${r.code}`, {
        hint: (r.stderr || r.stdout).trim().split("\n").slice(-10).join("\n"),
      });
    }
  }
}
