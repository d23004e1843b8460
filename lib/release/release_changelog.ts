/**
 * A release's changelog (docs/releases.md): the message of the tag the
 * release already has, or the text generated from the commits since the
 * previous version tag (simple or LLM), cached per commit, range and
 * generator so that every environment gets the same text.
 */
import { join } from "node:path";
import type { Session } from "../engine/session.ts";
import type { ReleaseInfo } from "../engine/module_api.ts";
import type { VersionDecision } from "./semver.ts";
import { highestVersionTag } from "./semver.ts";
import { annotatedTagMessage, commitsBetween, type TagFacts } from "./git.ts";
import { type ChangelogResult, generateChangelog } from "./changelog_writers.ts";
import { cacheDir } from "../cache.ts";
import { withoutTitle } from "./tag.ts";

export type ReleaseChangelog = ChangelogResult | { text: string; source: "tag" };

export interface ChangelogRequest {
  readonly release: ReleaseInfo;
  readonly facts: TagFacts;
  /** The version decided ([versioning]); without one the range starts at the highest merged tag. */
  readonly decision?: VersionDecision;
}

export async function releaseChangelog(
  s: Session,
  { release: r, facts, decision }: ChangelogRequest,
): Promise<ReleaseChangelog> {
  const { ui, project } = s;
  const repo = project.repo_dir;
  const notifications = project.notifications;
  if (decision?.existingTag) {
    const message = withoutTitle(
      await annotatedTagMessage(repo, decision.existingTag),
      decision.existingTag,
    );
    if (message) {
      ui.debug(`changelog: the message of tag ${decision.existingTag}`);
      return { text: message, source: "tag" };
    }
  }
  const previous = decision ? decision.previousTag : highestVersionTag(
    facts.mergedTags.filter((t) => !facts.tagsAtCommit.includes(t)),
  )?.tag;
  const generator = s.dryRun ? "simple" : notifications?.changelog_generator ?? "simple";
  const uncommitted = r.ref === "local" && decision?.version.endsWith("-dirty") === true;
  // The same commit and range give the same text, whichever environment it goes to first.
  const folder = await cacheDir(project);
  const cacheFile = join(
    folder,
    "changelogs",
    `${r.commit}-${previous ?? "root"}-${generator}${uncommitted ? "-dirty" : ""}.json`,
  );
  const cached = await Deno.readTextFile(cacheFile).then(JSON.parse, () => undefined);
  if (cached?.text) {
    ui.debug(`changelog: cached (${cached.source})`);
    return cached;
  }
  const commits = await commitsBetween(repo, previous, r.commit);
  const cfg = notifications?.changelog_config;
  const changelog = await generateChangelog({
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
    await Deno.mkdir(join(folder, "changelogs"), { recursive: true });
    await Deno.writeTextFile(cacheFile, JSON.stringify(changelog));
  }
  return changelog;
}
