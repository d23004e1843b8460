/**
 * What a deploy does around the hosts' steps (docs/releases.md): before,
 * the version of the code deployed and its changelog; during, the VERSION
 * file (through the run's notes) and a history record per host; after every
 * host succeeded, the annotated tag (tag environments only), its push and
 * the announcement; after a failure, the failure announcement and no tag.
 * Nothing here can fail a deploy that succeeded: tag, push and webhook
 * problems are warnings. Each concern has its file: release_changelog.ts,
 * release_tag.ts, release_announce.ts; this one decides the version and
 * puts them in order.
 */
import type { Session } from "../engine/session.ts";
import type { ArtifactMode } from "../deploy/artifact.ts";
import { type NoteValue, noteValue, type ReleaseInfo, type Step } from "../engine/module_api.ts";
import type { HostResult } from "../engine/runner.ts";
import { UsageError, UserError } from "../errors.ts";
import { type BumpKind, decideVersion, type VersionDecision } from "./semver.ts";
import { type TagFacts, tagFacts, treeDiffersFromHead } from "./git.ts";
import { failurePayload, type FailureReport, successPayload } from "./notify.ts";
import { errorExcerpt, withHistory } from "../host/history_records.ts";
import { type DeployVersion, VERSION_NOTE } from "../deploy/version_file.ts";
import { lockOwner } from "../host/deploy_lock.ts";
import { type ReleaseChangelog, releaseChangelog } from "./release_changelog.ts";
import { tagRelease } from "./tag.ts";
import { announce, hostFailures, reportBase, type RunFacts, strategyText } from "./announce.ts";

export interface PipelineOptions {
  readonly mode: ArtifactMode;
  /** --release TAG. */
  readonly tag?: string;
  /** A --bump-* flag. */
  readonly bump?: BumpKind;
  /** The command line, as in the lock's owner record. */
  readonly commandLine: string;
  /** deploy --activate. */
  readonly activate?: boolean;
}

export interface ReleasePipeline {
  /** After the artifact is built: decides the version and writes the changelog. */
  prepare(release: ReleaseInfo & { readonly gitTree?: string }): Promise<void>;
  /** Notes every host's steps start with (the VERSION file's content). */
  notes(): NoteValue[];
  /** The plan's steps, recording each host's outcome in its history. */
  steps(steps: readonly Step[]): Step[];
  /** After the hosts: tag, push and announce, or announce the failure. */
  finish(results: readonly HostResult[]): Promise<void>;
  /** Runs a step before the hosts (prepare, artifact); its failure is announced, then rethrown. */
  stage<T>(step: string, fn: () => Promise<T>): Promise<T>;
}

export function releasePipeline(s: Session, opts: PipelineOptions): ReleasePipeline {
  const { ui, project, env } = s;
  const versioning = project.versioning;
  const notifications = project.notifications;
  if (opts.bump && !versioning) {
    throw new UsageError(
      `Add a [versioning] table to ${project.config_path}: --bump-${opts.bump} needs versioning`,
      { hint: "See docs/releases.md." },
    );
  }
  const run: RunFacts = {
    startedAt: performance.now(),
    who: lockOwner(opts.commandLine).holder,
  };
  let release: ReleaseInfo | undefined;
  let decision: VersionDecision | undefined;
  let changelog: ReleaseChangelog | undefined;

  const tagHere = () =>
    Boolean(versioning && decision?.newTag && versioning.tag_environments.includes(env.name));

  async function failureAnnounced(
    report: Omit<FailureReport, keyof ReturnType<typeof reportBase>>,
  ) {
    await announce(
      s,
      "failure",
      failurePayload(notifications!.kind, {
        ...reportBase(s, run, decision?.version),
        ...report,
      }),
    );
  }

  return {
    async prepare(r) {
      release = r;
      if (!versioning && !notifications) return;
      const facts = await tagFacts(project.repo_dir, r.commit);
      if (versioning) decision = await decideReleaseVersion(s, opts, r, facts);
      if (tagHere() || notifications) {
        changelog = await releaseChangelog(s, { release: r, facts, decision });
      }
    },

    notes() {
      if (!versioning || !decision || !release) return [];
      const v: DeployVersion = {
        version: decision.version,
        commit: release.commit,
        environment: env.name,
        path: versioning.version_file_path,
      };
      return [noteValue(VERSION_NOTE, v)];
    },

    steps(steps) {
      return withHistory(steps, {
        command: "deploy",
        who: run.who,
        startedAt: run.startedAt,
        mask: (t) => ui.mask(t),
      });
    },

    async finish(results) {
      if (results.length === 0) {
        // Nothing was deployed: nothing to tag, push or announce.
        ui.warn("no host ran: no tag, no push, no notification");
        return;
      }
      const ok = results.every((r) => r.ok);
      if (s.dryRun) {
        const would = [
          tagHere() && `tag ${decision!.newTag}${versioning!.push_tags ? " and push it" : ""}`,
          notifications?.notify && `notify ${notifications.kind}`,
        ].filter(Boolean);
        if (ok && would.length) ui.line(`dry run: a real run would then ${would.join(" and ")}`);
        return;
      }
      if (!ok) {
        if (tagHere()) ui.line(`not tagging ${decision!.newTag}: not every host succeeded`);
        if (!notifications?.notify_on_failure) return;
        await failureAnnounced({
          commit: release?.commit,
          ref: release?.ref,
          succeededHosts: results.filter((r) => r.ok).map((r) => r.host),
          failures: hostFailures(s, results),
        });
        return;
      }
      const tag = tagHere()
        ? await tagRelease(ui, project.repo_dir, {
          tag: decision!.newTag!,
          commit: release!.commit,
          changelog: changelog?.text ?? "",
          push: versioning!.push_tags,
        })
        : decision?.existingTag;
      if (!notifications?.notify || !release) return;
      const short = release.commit.slice(0, 7);
      const previous = decision?.previousTag;
      await announce(
        s,
        "success",
        successPayload(notifications.kind, {
          ...reportBase(s, run, decision?.version),
          tag,
          commit: release.commit,
          ref: release.ref,
          previousVersion: previous,
          commitRange: previous ? `${previous}..${short}` : short,
          strategy: strategyText(s, opts.activate),
          changelog: changelog?.text ?? "",
          changelogSource: changelog?.source ?? "simple",
        }),
      );
    },

    async stage(step, fn) {
      try {
        return await fn();
      } catch (error) {
        await failed(step, error);
        throw error;
      }
    },
  };

  async function failed(step: string, error: unknown): Promise<void> {
    // A mistyped flag or tag (exit code 2) touched nothing: no one needs to hear of it.
    if (error instanceof UserError && error.exitCode === 2) return;
    if (s.dryRun || !notifications?.notify_on_failure) return;
    await failureAnnounced({
      commit: release?.commit,
      ref: release?.ref,
      succeededHosts: [],
      failures: [{
        host: "(this machine)",
        step,
        // A prepare command's message names the command line: say less.
        error: step === "prepare"
          ? "a [prepare] command failed"
          : errorExcerpt(error, (t) => ui.mask(t)),
      }],
    });
  }
}

/** The version of the release ([versioning]), said on the console with whether it is tagged here. */
async function decideReleaseVersion(
  s: Session,
  opts: PipelineOptions,
  r: ReleaseInfo & { readonly gitTree?: string },
  facts: TagFacts,
): Promise<VersionDecision> {
  const versioning = s.project.versioning!;
  const decision = decideVersion({
    mode: opts.mode,
    releaseTag: opts.tag,
    ...facts,
    // Build outputs ([artifact] include) do not make a version dirty: git's files do.
    dirty: opts.mode === "local" &&
      await treeDiffersFromHead(s.project.repo_dir, r.gitTree ?? r.tree),
    increment: versioning.increment_type,
    bump: opts.bump,
  });
  if (decision.warning) s.ui.warn(decision.warning);
  const tagging = decision.newTag && versioning.tag_environments.includes(s.env.name)
    ? `; tagged once every host succeeded`
    : decision.newTag
    ? `; no tag (${s.env.name} is not in tag_environments)`
    : "";
  s.ui.line(`version ${decision.version} (${decision.reason}${tagging})`);
  return decision;
}
