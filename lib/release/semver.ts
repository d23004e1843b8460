/**
 * Semantic versions of deploys, decided from git tags: the next version
 * after the highest semver tag, the tag a commit already carries (reused, so
 * every environment announces the same version), or a tag asked for with
 * --release. Pure functions: lib/release/git.ts reads the tags.
 */
import { UsageError } from "../errors.ts";
import type { FlagDef, Flags } from "../cli/args.ts";
import type { ArtifactMode } from "../deploy/artifact.ts";

export type BumpKind = "major" | "minor" | "patch";
export const BUMP_KINDS: readonly BumpKind[] = ["major", "minor", "patch"];

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Dot-separated pre-release identifiers ("rc.1" is ["rc", "1"]). */
  readonly prerelease: readonly string[];
}

/** A git tag that is a semantic version, with or without a leading "v". */
export interface VersionTag {
  readonly tag: string;
  readonly prefix: "v" | "";
  readonly version: SemVer;
}

const SEMVER =
  /^(v?)(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parses `v1.2.3`, `1.2.3`, `v1.3.0-rc.1` (build metadata is allowed and ignored). */
export function parseVersionTag(tag: string): VersionTag | undefined {
  const m = SEMVER.exec(tag);
  if (!m) return undefined;
  return {
    tag,
    prefix: m[1] as "v" | "",
    version: {
      major: Number(m[2]),
      minor: Number(m[3]),
      patch: Number(m[4]),
      prerelease: m[5] ? m[5].split(".") : [],
    },
  };
}

/** Semver precedence: negative when a < b. A pre-release sorts before its release. */
export function compareVersions(a: SemVer, b: SemVer): number {
  for (const k of ["major", "minor", "patch"] as const) {
    if (a[k] !== b[k]) return a[k] - b[k];
  }
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return b.prerelease.length - a.prerelease.length;
  }
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The highest version among tags; tags that are not versions are ignored. */
export function highestVersionTag(tags: readonly string[]): VersionTag | undefined {
  let best: VersionTag | undefined;
  for (const tag of tags) {
    const v = parseVersionTag(tag.trim());
    if (v && (!best || compareVersions(v.version, best.version) > 0)) best = v;
  }
  return best;
}

/**
 * The next version, as npm's semver increments: a pre-release becomes its
 * release (1.3.0-rc.1 + patch/minor = 1.3.0), otherwise the part goes up and
 * the lower ones go to 0.
 */
export function bumpVersion(v: SemVer, kind: BumpKind): SemVer {
  const pre = v.prerelease.length > 0;
  const release = { prerelease: [] as string[] };
  if (kind === "major") {
    return pre && v.minor === 0 && v.patch === 0
      ? { ...v, ...release }
      : { major: v.major + 1, minor: 0, patch: 0, ...release };
  }
  if (kind === "minor") {
    return pre && v.patch === 0
      ? { ...v, ...release }
      : { major: v.major, minor: v.minor + 1, patch: 0, ...release };
  }
  return pre ? { ...v, ...release } : { ...v, patch: v.patch + 1, ...release };
}

export function formatVersion(v: SemVer, prefix: "v" | "" = "v"): string {
  const pre = v.prerelease.length ? `-${v.prerelease.join(".")}` : "";
  return `${prefix}${v.major}.${v.minor}.${v.patch}${pre}`;
}

/**
 * The version after the highest tag, keeping that tag's style (with or
 * without "v"). No version tag yet: v0.1.0, or v1.0.0 for a major increment.
 */
export function nextVersion(tags: readonly string[], kind: BumpKind): string {
  const highest = highestVersionTag(tags);
  if (!highest) return kind === "major" ? "v1.0.0" : "v0.1.0";
  return formatVersion(bumpVersion(highest.version, kind), highest.prefix);
}

export const BUMP_FLAGS: readonly FlagDef[] = BUMP_KINDS.map((kind) => ({
  name: `bump-${kind}`,
  type: "boolean",
  description: `This deploy's new version is the next ${kind} (overrides increment_type once)`,
}));

/** The bump flag given, if any; two or more are a usage error. */
export function bumpFromFlags(flags: Flags): BumpKind | undefined {
  const given = BUMP_KINDS.filter((k) => flags[`bump-${k}`]);
  if (given.length > 1) {
    throw new UsageError(
      `Choose one of --bump-major, --bump-minor and --bump-patch: got ${
        given.map((k) => `--bump-${k}`).join(" and ")
      }`,
    );
  }
  return given[0];
}

export interface VersionInputs {
  readonly mode: ArtifactMode;
  /** --release TAG. */
  readonly releaseTag?: string;
  /** Every tag of the repository. */
  readonly tags: readonly string[];
  /** Tags that point at the deployed commit. */
  readonly tagsAtCommit: readonly string[];
  /** Tags reachable from the deployed commit (its history). */
  readonly mergedTags: readonly string[];
  /** --local: the working tree differs from HEAD. */
  readonly dirty: boolean;
  /** [versioning] increment_type. */
  readonly increment: BumpKind;
  /** A --bump-* flag. */
  readonly bump?: BumpKind;
}

export interface VersionDecision {
  /** The version of the code deployed: "v1.2.4", "v1.2.4-dirty", "v1.2.4+local". */
  readonly version: string;
  /** The version tag the commit already has: reused, never created again. */
  readonly existingTag?: string;
  /** The tag to create once every host succeeded (in a tag environment). */
  readonly newTag?: string;
  /** The version tag before this one in the commit's history: the changelog starts there. */
  readonly previousTag?: string;
  /** Why this version, for people. */
  readonly reason: string;
  /** Something the user should know (an ignored bump flag). */
  readonly warning?: string;
}

/** Decides the version of a deploy. */
export function decideVersion(input: VersionInputs): VersionDecision {
  if (input.mode === "release" && input.bump) {
    throw new UsageError(
      `Drop --bump-${input.bump}: --release ${input.releaseTag} deploys that tag's own version`,
    );
  }
  const below = (limit?: SemVer) =>
    highestVersionTag(
      input.mergedTags.filter((t) => {
        if (input.tagsAtCommit.includes(t)) return false;
        const v = parseVersionTag(t);
        return v !== undefined && (!limit || compareVersions(v.version, limit) < 0);
      }),
    )?.tag;

  if (input.mode === "release") {
    const tag = input.releaseTag!;
    const parsed = parseVersionTag(tag);
    return {
      version: tag,
      existingTag: tag,
      previousTag: below(parsed?.version),
      reason: parsed ? `the tag ${tag}` : `the tag ${tag} (not a semantic version: used as is)`,
    };
  }

  const own = highestVersionTag(input.tagsAtCommit);
  const ignored = input.bump && own
    ? `--bump-${input.bump} ignored: the commit already has the version tag ${own.tag}`
    : undefined;
  if (input.mode === "latest" && own) {
    return {
      version: own.tag,
      existingTag: own.tag,
      previousTag: below(own.version),
      reason: `the commit's tag ${own.tag}`,
      warning: ignored,
    };
  }

  const kind = input.bump ?? input.increment;
  const highest = highestVersionTag(input.tags)?.tag;
  const next = nextVersion(input.tags, kind);
  const why = highest ? `next ${kind} after ${highest}` : "first version: no version tag yet";
  if (input.mode === "latest") {
    return { version: next, newTag: next, previousTag: below(), reason: why };
  }
  // --local: what is deployed is not a commit; it never gets a tag.
  if (own && !input.dirty) {
    return {
      version: `${own.tag}+local`,
      previousTag: below(own.version),
      reason: `the commit's tag ${own.tag}, built from the working tree`,
      warning: ignored,
    };
  }
  return {
    version: `${next}${input.dirty ? "-dirty" : "+local"}`,
    previousTag: below(),
    reason: `${why}, built from the working tree${input.dirty ? " with uncommitted changes" : ""}`,
  };
}
