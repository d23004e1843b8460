/**
 * `[artifact]`: what the artifact holds besides git's files. `include` names
 * build outputs of `[prepare]` (lib/deploy/artifact_include.ts adds them).
 */
import type { SectionSpec } from "./spec.ts";
import { arrayOf, describe, Invalid, refine, string } from "./validators.ts";

/** `frontend/dist` (a trailing `/` is dropped): relative, no `.`, `..` or empty parts, no `.git`. */
export const includePath = refine(string(), (s) => {
  const path = s.replace(/\/+$/, "");
  const parts = path.split("/");
  if (
    path === "" || s.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")
  ) {
    throw new Invalid(
      'must be a relative path inside the project\'s folder, without "." or ".." parts ' +
        `(e.g. "frontend/dist"): got ${describe(s)}`,
    );
  }
  if (parts.includes(".git")) {
    throw new Invalid(`must not name git's own folder: got ${describe(s)}`);
  }
  return path;
});

export const ARTIFACT_SECTION: SectionSpec = {
  name: "artifact",
  doc: "What the artifact holds besides the files git has at the deployed ref.",
  scopes: ["project"],
  notes: [
    "Included paths are read from disk once `[prepare]` has run, in the project's folder (where",
    "`[prepare]` runs), for `--latest`, `--local` and `--release` alike: to ship a tag's own build",
    "outputs, check the tag out first (djaploy warns when the working tree is elsewhere). What is on disk",
    "at an included path replaces whatever git has there. A path that is missing or empty, or that holds",
    "a symlink pointing outside the project (or an absolute one), stops the deploy with a config error",
    "before any server is changed; `--dry-run`, which runs no `[prepare]`, lists missing paths instead.",
    "Included files count in the artifact's tree hash: a changed build output is a new release, an",
    "unchanged one is already live.",
  ].join("\n"),
  keys: {
    include: {
      type: "array of strings",
      parse: arrayOf(includePath),
      defaultValue: [],
      doc: 'Build outputs to ship, e.g. `["frontend/dist"]`: files or folders the `[prepare]` ' +
        "commands make (usually gitignored), relative to the project's folder. See below.",
    },
  },
};
