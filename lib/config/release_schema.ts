/**
 * The [versioning] and [notifications] tables of djaploy.toml (release
 * pipeline: docs/releases.md). Kept apart from schema.ts for size; schema.ts
 * lists them among its SECTIONS, passing the name patterns it owns.
 */
import type { KeySpec, SectionSpec } from "./spec.ts";
import {
  CHANGELOG_GENERATORS,
  type ChangelogConfig,
  INCREMENT_TYPES,
  NOTIFICATION_KINDS,
} from "./types.ts";
import {
  arrayOf,
  boolean,
  describe,
  Invalid,
  isTable,
  matching,
  oneOf,
  type ParseContext,
  positiveNumber,
  quoteList,
  refine,
  string,
} from "./validators.ts";
import { parseSecretRef } from "../secrets/secret.ts";
import { suggestion } from "./did_you_mean.ts";

const httpUrl = refine(string(), (s) => {
  let ok = false;
  try {
    ok = /^https?:$/.test(new URL(s).protocol);
  } catch {
    // not a URL
  }
  if (!ok) throw new Invalid(`must be an http:// or https:// URL: got ${describe(s)}`);
  return s;
});

/** A secret: a reference (env:, file:, op://) or, when it is none, a URL. */
const secretUrl = (value: unknown) => {
  const s = string()(value);
  return parseSecretRef(s) ?? httpUrl(s);
};

/** A secret: a reference, or a plain value (still masked in every output). */
const secretValue = (value: unknown) => {
  const s = string()(value);
  return parseSecretRef(s) ?? s;
};

const CHANGELOG_KEYS: Readonly<Record<string, KeySpec & { required?: "project" }>> = {
  api_url: {
    type: "string",
    required: "project",
    parse: httpUrl,
    doc: "An OpenAI-compatible chat completions URL.",
  },
  model: {
    type: "string",
    required: "project",
    parse: matching(/^\S+$/),
    doc: "The model name sent with each request.",
  },
  api_key: {
    type: "string",
    parse: secretValue,
    doc: "A secret reference (or value) sent as `Authorization: Bearer`.",
  },
  timeout: {
    type: "number",
    parse: positiveNumber(),
    defaultValue: 20,
    doc: "Seconds to wait for the answer.",
  },
};

/** Parses [notifications.changelog_config]: its own keys, required ones and defaults. */
function changelogConfig(value: unknown, ctx: ParseContext): ChangelogConfig {
  if (!isTable(value)) {
    throw new Invalid(`must be a table with api_url and model: got ${describe(value)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const spec = Object.hasOwn(CHANGELOG_KEYS, key) ? CHANGELOG_KEYS[key] : undefined;
    if (!spec) {
      throw new Invalid(
        `unknown key ${JSON.stringify(key)}${suggestion(key, Object.keys(CHANGELOG_KEYS))}: ` +
          `allowed are ${quoteList(Object.keys(CHANGELOG_KEYS))}`,
        [key],
      );
    }
    try {
      out[key] = spec.parse(v, ctx);
    } catch (e) {
      if (e instanceof Invalid) throw new Invalid(e.problem, [key, ...e.at]);
      throw e;
    }
  }
  for (const [key, spec] of Object.entries(CHANGELOG_KEYS)) {
    if (out[key] !== undefined) continue;
    if (spec.required) throw new Invalid("is required", [key]);
    if (spec.defaultValue !== undefined) out[key] = spec.defaultValue;
  }
  return out as unknown as ChangelogConfig;
}

/** The keys of [notifications.changelog_config], for docs/configuration.md. */
const CHANGELOG_KEYS_DOC = "Keys of the `[notifications.changelog_config]` table (the `llm` " +
  "changelog's endpoint):\n\n" + markdownTable(
    ["Key", "Type", "Default", "Meaning"],
    Object.entries(CHANGELOG_KEYS).map(([k, s]) => [
      `\`${k}\``,
      s.type,
      s.required ? "required" : s.defaultValue !== undefined ? `\`${s.defaultValue}\`` : "none",
      s.doc,
    ]),
  );

/** A markdown table padded the way `deno fmt` pads it. */
export function markdownTable(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => c.replaceAll("|", "\\|")));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

/** `[release]`: the command every deploy runs once, in the new release, before traffic moves. */
const RELEASE_SECTION: SectionSpec = {
  name: "release",
  doc: "What a deploy runs once in the new release before traffic moves (docs/hooks.md). " +
    "Its versions, tags and changelog are `[versioning]` and `[notifications]`.",
  scopes: ["project", "defaults", "host"],
  keys: {
    command: {
      type: "string",
      parse: refine(string({ lines: true }), (s) => {
        if (s.trim() === "") throw new Invalid(`must be a non-empty command: got ${describe(s)}`);
        return s;
      }),
      defaultText: "none",
      doc: "A shell command line, Heroku's Procfile `release:` (e.g. `python manage.py " +
        "createcachetable`): run after migrate, on the first host of the deploy in inventory " +
        "order, as the app user with the app's environment, in the new release's manage.py " +
        "folder with its virtualenv first in `PATH`. No host moves traffic before it " +
        "succeeded; when it fails, the deploy stops on every host and the old release serves.",
    },
  },
};

/** The tables, given the name pattern of environments and the relative-path check. */
export function releaseSections(opts: {
  readonly envName: RegExp;
  readonly relativePath: (value: unknown, ctx: ParseContext) => string;
}): SectionSpec[] {
  return [
    RELEASE_SECTION,
    {
      name: "versioning",
      doc:
        "Semantic versions, git tags and the VERSION file (docs/releases.md). Without this table " +
        "djaploy computes no version, creates no tag and writes no VERSION file.",
      scopes: ["project"],
      keys: {
        tag_environments: {
          type: "array of strings",
          parse: arrayOf(matching(opts.envName)),
          defaultValue: ["production"],
          doc: "Environments whose deploys create the version's annotated git tag, once every " +
            "host succeeded.",
        },
        increment_type: {
          type: quoteList(INCREMENT_TYPES).replaceAll(", ", " | "),
          parse: oneOf(INCREMENT_TYPES),
          defaultValue: "patch",
          doc: "Which part of the highest version tag a new version increments " +
            "(`--bump-major`, `--bump-minor`, `--bump-patch` override it once).",
        },
        push_tags: {
          type: "boolean",
          parse: boolean(),
          defaultValue: true,
          doc: "Push a new tag to the current branch's upstream remote.",
        },
        version_file_path: {
          type: "string",
          parse: opts.relativePath,
          defaultValue: "VERSION",
          doc: "The VERSION file's path, relative to the root of the code that runs on the " +
            "server; it must not be a file of the repository.",
        },
      },
    },
    {
      name: "notifications",
      doc: "Deploy announcements to Slack or any webhook (docs/releases.md). Without this table " +
        "nothing is sent.",
      scopes: ["project"],
      notes: CHANGELOG_KEYS_DOC,
      keys: {
        notify: {
          type: "boolean",
          parse: boolean(),
          defaultValue: true,
          doc: "Announce successful deploys.",
        },
        notify_on_failure: {
          type: "boolean",
          parse: boolean(),
          defaultValue: true,
          doc: "Announce failed deploys (the failed host and step and a short error excerpt) and " +
            "failed `[[schedule]]` jobs (sent by the server: docs/releases.md, " +
            '"Failed scheduled jobs").',
        },
        display_name: {
          type: "string",
          parse: matching(/^\S.{0,79}$/),
          derive: (r) => r.project_name,
          defaultText: "`project_name`",
          doc: "The app's name in announcements.",
        },
        webhook_url: {
          type: "string",
          parse: secretUrl,
          defaultText: "none (required when notify or notify_on_failure is true)",
          doc: 'The webhook\'s URL: a secret reference ("env:NAME", "file:PATH", "op://...") or ' +
            "the URL itself (masked like a secret).",
        },
        kind: {
          type: quoteList(NOTIFICATION_KINDS).replaceAll(", ", " | "),
          parse: oneOf(NOTIFICATION_KINDS),
          defaultValue: "slack",
          doc: "`slack`: a Slack incoming-webhook message; `webhook`: a JSON document.",
        },
        timeout: {
          type: "number",
          parse: positiveNumber(),
          defaultValue: 5,
          doc: "Seconds to wait for the webhook (one retry); a failure is a warning, never a " +
            "failed deploy.",
        },
        changelog_generator: {
          type: quoteList(CHANGELOG_GENERATORS).replaceAll(", ", " | "),
          parse: oneOf(CHANGELOG_GENERATORS),
          defaultValue: "simple",
          doc: "`simple`: commit subjects since the previous version; `llm`: summarised by " +
            "`changelog_config`'s endpoint (falls back to simple).",
        },
        changelog_config: {
          type: "table",
          parse: changelogConfig,
          defaultText: "none (required for llm)",
          doc: "The `llm` changelog's endpoint: `[notifications.changelog_config]` (keys below).",
        },
      },
    },
  ];
}
