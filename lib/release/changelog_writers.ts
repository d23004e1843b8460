/**
 * Changelogs for deploy announcements and tag messages. `simple`: the
 * subjects of the commits since the previous version tag, without merge
 * noise. `llm`: the same subjects, summarised by an OpenAI-compatible chat
 * completions endpoint; any failure there falls back to `simple` (the
 * caller says so), because an announcement must never stop a deploy.
 */
import type { Secret } from "../secrets/secret.ts";

export interface CommitInfo {
  readonly sha: string;
  /** How many parents: 2 or more is a merge commit. */
  readonly parents: number;
  readonly subject: string;
}

/** Subjects that carry no change of their own. */
const NOISE: readonly RegExp[] = [
  /^Merge (branch|branches|pull request|remote-tracking branch|tag|commit) /i,
  /^Merge [0-9a-f]{7,40}( into [0-9a-f]{7,40})?$/i,
  /^Merged? .+ into .+$/i,
  /^(fixup|squash|amend)! /i,
];

/** The subjects worth announcing, newest first: merges and fixups dropped, duplicates once. */
export function simpleChangelog(commits: readonly CommitInfo[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of commits) {
    const subject = c.subject.trim();
    if (c.parents > 1 || subject === "" || NOISE.some((re) => re.test(subject))) continue;
    if (seen.has(subject)) continue;
    seen.add(subject);
    out.push(subject);
  }
  return out;
}

export const NO_CHANGES = "No code changes since the previous version.";

/** A bulleted list of at most `max` lines (the rest counted). */
export function changelogText(
  subjects: readonly string[],
  opts: { max?: number; uncommitted?: boolean } = {},
): string {
  const max = opts.max ?? 30;
  const lines = subjects.slice(0, max).map((s) => `- ${s}`);
  if (subjects.length > max) lines.push(`- …and ${subjects.length - max} more`);
  if (opts.uncommitted) lines.push("- Uncommitted changes from the working tree");
  return lines.length ? lines.join("\n") : NO_CHANGES;
}

export interface LlmChangelogOptions {
  readonly apiUrl: string;
  readonly model: string;
  readonly apiKey?: Secret;
  readonly timeoutMs: number;
  readonly app: string;
  readonly version: string;
  readonly subjects: readonly string[];
  /** For tests; default the global fetch. */
  readonly fetch?: typeof fetch;
}

export const LLM_SYSTEM_PROMPT =
  "You write the release notes of a web application for the team's chat. Summarise the commit " +
  "subjects you are given as a short bulleted list in plain language: at most 8 lines, each " +
  'starting with "- ", what changed for users first. No preamble, no headings, no links, and ' +
  "do not invent changes that the commits do not mention.";

/** The request body sent to the chat completions endpoint. */
export function llmRequest(opts: LlmChangelogOptions): Record<string, unknown> {
  return {
    model: opts.model,
    temperature: 0.2,
    messages: [
      { role: "system", content: LLM_SYSTEM_PROMPT },
      {
        role: "user",
        content: `Release ${opts.version} of ${opts.app}. Commit subjects, newest first:\n` +
          opts.subjects.map((s) => `- ${s}`).join("\n"),
      },
    ],
  };
}

/** Asks the endpoint for a changelog; throws an Error saying why on any failure. */
export async function llmChangelog(opts: LlmChangelogOptions): Promise<string> {
  const doFetch = opts.fetch ?? fetch;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
  try {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey.reveal()}`;
    let res: Response;
    try {
      res = await doFetch(opts.apiUrl, {
        method: "POST",
        headers,
        body: JSON.stringify(llmRequest(opts)),
        signal: abort.signal,
      });
    } catch (err) {
      if (abort.signal.aborted) throw err;
      throw new Error(
        `cannot reach ${new URL(opts.apiUrl).host}: ${
          excerpt(err instanceof Error ? err.message : String(err))
        }`,
      );
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${excerpt(text)}`);
    let content: unknown;
    try {
      content = JSON.parse(text)?.choices?.[0]?.message?.content;
    } catch {
      throw new Error(`the answer is not JSON: ${excerpt(text)}`);
    }
    if (typeof content !== "string" || content.trim() === "") {
      throw new Error("the answer has no choices[0].message.content");
    }
    return tidy(content);
  } catch (err) {
    if (abort.signal.aborted) throw new Error(`no answer within ${opts.timeoutMs / 1000} s`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Trims the model's text: no code fences, at most 3000 characters. */
function tidy(text: string): string {
  const t = text.trim().replace(/^```[a-z]*\n([\s\S]*?)\n```$/, "$1").trim();
  return t.length > 3000 ? `${t.slice(0, 2999)}…` : t;
}

function excerpt(text: string): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > 120 ? `${one.slice(0, 119)}…` : one || "(empty)";
}

export interface ChangelogResult {
  readonly text: string;
  readonly source: "simple" | "llm";
  /** Set when llm was asked for and simple was used instead. */
  readonly warning?: string;
}

/** The changelog a generator gives, falling back from llm to simple. */
export async function generateChangelog(opts: {
  readonly generator: "simple" | "llm";
  readonly commits: readonly CommitInfo[];
  readonly uncommitted?: boolean;
  readonly llm?: Omit<LlmChangelogOptions, "subjects">;
}): Promise<ChangelogResult> {
  const subjects = simpleChangelog(opts.commits);
  const simple = changelogText(subjects, { uncommitted: opts.uncommitted });
  if (opts.generator === "simple" || !opts.llm || subjects.length === 0) {
    return { text: simple, source: "simple" };
  }
  try {
    const text = await llmChangelog({ ...opts.llm, subjects });
    return {
      text: opts.uncommitted ? `${text}\n- Uncommitted changes from the working tree` : text,
      source: "llm",
    };
  } catch (err) {
    return {
      text: simple,
      source: "simple",
      warning: `the llm changelog failed (${
        err instanceof Error ? err.message : err
      }): using the simple changelog`,
    };
  }
}
