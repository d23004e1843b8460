/**
 * What a deploy does around the hosts' steps (docs/releases.md): before,
 * the version of the code deployed and its changelog; during, the VERSION
 * file (through the run's notes) and a history record per host; after every
 * host succeeded, the annotated tag (tag environments only), its push and
 * the announcement; after a failure, the failure announcement and no tag.
 * Nothing here can fail a deploy that succeeded: tag, push and webhook
 * problems are warnings.
 */
import { join } from "node:path";
import type { Session } from "./session.ts";
import type { ArtifactMode } from "./artifact.ts";
import { type NoteValue, noteValue, type ReleaseInfo, type Step } from "./module.ts";
import type { HostResult } from "./runner.ts";
import { UsageError, UserError } from "./errors.ts";
import { type BumpKind, decideVersion, type VersionDecision } from "./versioning.ts";
import {
  annotatedTagMessage,
  commitsBetween,
  createTag,
  pushRemote,
  pushTag,
  type TagFacts,
  tagFacts,
  treeDiffersFromHead,
} from "./release_git.ts";
import { type ChangelogResult, generateChangelog } from "./changelog.ts";
import {
  type DeployReport,
  failurePayload,
  type FailureReport,
  type HostFailure,
  maskStrings,
  postJson,
  successPayload,
} from "./notify.ts";
import { errorExcerpt, withHistory } from "./history.ts";
import { type DeployVersion, VERSION_NOTE } from "./version_file.ts";
import { strategyTraits } from "./strategies/traits.ts";
import { lockOwner } from "./lock.ts";
import { cacheDir } from "./cache.ts";
import { highestVersionTag } from "./versioning.ts";

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
  const startedAt = performance.now();
  const who = lockOwner(opts.commandLine).holder;
  const repo = project.repo_dir;
  let release: ReleaseInfo | undefined;
  let decision: VersionDecision | undefined;
  let changelog: (ChangelogResult | { text: string; source: "tag" }) | undefined;

  const tagHere = () =>
    Boolean(versioning && decision?.newTag && versioning.tag_environments.includes(env.name));

  async function writeChangelog(facts: TagFacts, r: ReleaseInfo): Promise<void> {
    if (decision?.existingTag) {
      const message = withoutTitle(
        await annotatedTagMessage(repo, decision.existingTag),
        decision.existingTag,
      );
      if (message) {
        changelog = { text: message, source: "tag" };
        ui.debug(`changelog: the message of tag ${decision.existingTag}`);
        return;
      }
    }
    const previous = decision ? decision.previousTag : highestVersionTag(
      facts.mergedTags.filter((t) => !facts.tagsAtCommit.includes(t)),
    )?.tag;
    const generator = s.dryRun ? "simple" : notifications?.changelog_generator ?? "simple";
    const uncommitted = r.ref === "local" && decision?.version.endsWith("-dirty") === true;
    // The same commit and range give the same text, whichever environment it goes to first.
    const cacheFile = join(
      cacheDir(project),
      "changelogs",
      `${r.commit}-${previous ?? "root"}-${generator}${uncommitted ? "-dirty" : ""}.json`,
    );
    const cached = await Deno.readTextFile(cacheFile).then(JSON.parse, () => undefined);
    if (cached?.text) {
      changelog = cached;
      ui.debug(`changelog: cached (${cached.source})`);
      return;
    }
    const commits = await commitsBetween(repo, previous, r.commit);
    const cfg = notifications?.changelog_config;
    changelog = await generateChangelog({
      generator,
      commits,
      uncommitted,
      llm: generator === "llm" && cfg
        ? {
          apiUrl: cfg.api_url,
          model: cfg.model,
          apiKey: cfg.api_key === undefined
            ? undefined
            : await s.secrets.secret(cfg.api_key, "notifications.changelog_config.api_key"),
          timeoutMs: cfg.timeout * 1000,
          app: notifications!.display_name,
          version: decision?.version ?? r.commit.slice(0, 7),
        }
        : undefined,
    });
    if ("warning" in changelog && changelog.warning) ui.warn(changelog.warning);
    ui.debug(`changelog (${changelog.source}, ${commits.length} commits):\n${changelog.text}`);
    if (!s.dryRun && !("warning" in changelog && changelog.warning)) {
      await Deno.mkdir(join(cacheDir(project), "changelogs"), { recursive: true });
      await Deno.writeTextFile(cacheFile, JSON.stringify(changelog));
    }
  }

  async function announce(kind: "success" | "failure", body: unknown): Promise<void> {
    if (!notifications?.webhook_url || s.dryRun) return;
    const url = await s.secrets.secret(notifications.webhook_url, "notifications.webhook_url");
    const r = await postJson({
      url,
      body: maskStrings(body, (t) => ui.mask(t)),
      timeoutMs: notifications.timeout * 1000,
    });
    if (r.ok) {
      ui.line(
        `notified ${notifications.kind}: deploy ${kind === "success" ? "succeeded" : "failed"}`,
      );
    } else {ui.warn(
        `could not notify ${notifications.kind}: ${r.reason}; the deploy's result is unchanged`,
      );}
  }

  function base() {
    return {
      app: notifications?.display_name ?? project.project_name,
      project: project.project_name,
      environment: env.name,
      version: decision?.version,
      hosts: s.hosts.map((h) => h.name),
      durationSeconds: (performance.now() - startedAt) / 1000,
      deployedBy: who,
      time: new Date().toISOString(),
    };
  }

  function strategyText(): string {
    const names = [...new Set(s.hosts.map((h) => h.deployment_strategy))];
    const staged = s.hosts.some((h) => strategyTraits(h).stages) && !opts.activate;
    return names.join(", ") + (staged ? " (staged where not yet live: djaploy activate)" : "");
  }

  async function tagAndPush(): Promise<string | undefined> {
    const tag = decision!.newTag!;
    try {
      await createTag(repo, {
        name: tag,
        commit: release!.commit,
        message: tagMessage(tag, changelog?.text ?? ""),
      });
    } catch (err) {
      ui.warn(`could not create the tag ${tag}: ${errorExcerpt(err, (t) => ui.mask(t))}`);
      return undefined;
    }
    ui.line(`tagged ${tag} (${release!.commit.slice(0, 7)})`);
    if (!versioning!.push_tags) return tag;
    const remote = await pushRemote(repo);
    if (!remote) {
      ui.warn(`not pushing ${tag}: the repository has no remote (push it with git push --tags)`);
      return tag;
    }
    try {
      await pushTag(repo, remote, tag);
      ui.line(`pushed ${tag} to ${remote}`);
    } catch (err) {
      ui.warn(
        `could not push ${tag} to ${remote}: ${errorExcerpt(err, (t) => ui.mask(t))}`,
      );
    }
    return tag;
  }

  return {
    async prepare(r) {
      release = r;
      if (!versioning && !notifications) return;
      const facts = await tagFacts(repo, r.commit);
      if (versioning) {
        decision = decideVersion({
          mode: opts.mode,
          releaseTag: opts.tag,
          ...facts,
          // Build outputs ([artifact] include) do not make a version dirty: git's files do.
          dirty: opts.mode === "local" && await treeDiffersFromHead(repo, r.gitTree ?? r.tree),
          increment: versioning.increment_type,
          bump: opts.bump,
        });
        if (decision.warning) ui.warn(decision.warning);
        const tagging = tagHere()
          ? `; tagged once every host succeeded`
          : decision.newTag
          ? `; no tag (${env.name} is not in tag_environments)`
          : "";
        ui.line(`version ${decision.version} (${decision.reason}${tagging})`);
      }
      if (tagHere() || notifications) await writeChangelog(facts, r);
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
        who,
        startedAt,
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
        const failures: HostFailure[] = results.filter((r) => !r.ok).map((r) => ({
          host: r.host,
          step: r.failedStep ?? "unknown",
          error: errorExcerpt(r.error, (t) => ui.mask(t)),
        }));
        const report: FailureReport = {
          ...base(),
          commit: release?.commit,
          ref: release?.ref,
          succeededHosts: results.filter((r) => r.ok).map((r) => r.host),
          failures,
        };
        await announce("failure", failurePayload(notifications.kind, report));
        return;
      }
      const tag = tagHere() ? await tagAndPush() : decision?.existingTag;
      if (!notifications?.notify || !release) return;
      const short = release.commit.slice(0, 7);
      const previous = decision?.previousTag;
      const report: DeployReport = {
        ...base(),
        tag,
        commit: release.commit,
        ref: release.ref,
        previousVersion: previous,
        commitRange: previous ? `${previous}..${short}` : short,
        strategy: strategyText(),
        changelog: changelog?.text ?? "",
        changelogSource: changelog?.source ?? "simple",
      };
      await announce("success", successPayload(notifications.kind, report));
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
    const report: FailureReport = {
      ...base(),
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
    };
    await announce("failure", failurePayload(notifications.kind, report));
  }
}

/** An annotated tag's message: the tag's name as its title, then the changelog. */
export function tagMessage(tag: string, changelog: string): string {
  return `${tag}\n\n${changelog}`.trim();
}

/** The changelog in a tag's message (without the title tagMessage adds). */
export function withoutTitle(message: string | undefined, tag: string): string | undefined {
  if (message === undefined) return undefined;
  const lines = message.split("\n");
  if (lines[0].trim() !== tag) return message.trim() || undefined;
  return lines.slice(1).join("\n").trim() || undefined;
}
