/**
 * The annotated tag a deploy makes once every host succeeded (tag
 * environments only) and its push (push_tags). A tag or push that fails is a
 * warning: it never fails a deploy that succeeded.
 */
import type { Ui } from "../output/ui.ts";
import { createTag, pushRemote, pushTag } from "./git.ts";
import { errorExcerpt } from "../host/history_records.ts";

export interface TagRequest {
  readonly tag: string;
  readonly commit: string;
  /** The tag's message below its title. */
  readonly changelog: string;
  /** push_tags: push the tag to the repository's remote. */
  readonly push: boolean;
}

/** Creates the tag and pushes it; the tag's name, or undefined when it could not be created. */
export async function tagRelease(
  ui: Ui,
  repo: string,
  req: TagRequest,
): Promise<string | undefined> {
  const { tag } = req;
  try {
    await createTag(repo, {
      name: tag,
      commit: req.commit,
      message: tagMessage(tag, req.changelog),
    });
  } catch (err) {
    ui.warn(`could not create the tag ${tag}: ${errorExcerpt(err, (t) => ui.mask(t))}`);
    return undefined;
  }
  ui.line(`tagged ${tag} (${req.commit.slice(0, 7)})`);
  if (!req.push) return tag;
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
