import assert from "node:assert/strict";
import {
  bumpFromFlags,
  bumpVersion,
  compareVersions,
  decideVersion,
  formatVersion,
  highestVersionTag,
  nextVersion,
  parseVersionTag,
  type VersionInputs,
} from "../lib/release/semver.ts";
import { UsageError } from "../lib/errors.ts";

const v = (tag: string) => parseVersionTag(tag)!.version;

Deno.test("parseVersionTag: with and without v, pre-releases, build metadata; anything else is not a version", () => {
  assert.deepEqual(parseVersionTag("v1.2.3"), {
    tag: "v1.2.3",
    prefix: "v",
    version: { major: 1, minor: 2, patch: 3, prerelease: [] },
  });
  assert.equal(parseVersionTag("1.2.3")?.prefix, "");
  assert.deepEqual(v("v1.3.0-rc.1").prerelease, ["rc", "1"]);
  assert.deepEqual(v("2.0.0+build.5"), { major: 2, minor: 0, patch: 0, prerelease: [] });
  for (const tag of ["release-1", "v1.2", "v01.2.3", "1.2.3.4", "V1.2.3", "v1.2.3-", "latest"]) {
    assert.equal(parseVersionTag(tag), undefined, tag);
  }
});

Deno.test("compareVersions: semver precedence", () => {
  const sorted = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
  ];
  for (let i = 0; i < sorted.length - 1; i++) {
    assert.ok(
      compareVersions(v(sorted[i]), v(sorted[i + 1])) < 0,
      `${sorted[i]} < ${sorted[i + 1]}`,
    );
    assert.ok(compareVersions(v(sorted[i + 1]), v(sorted[i])) > 0);
  }
  assert.equal(compareVersions(v("v1.2.3"), v("1.2.3")), 0);
});

Deno.test("highestVersionTag: ignores tags that are not versions; 1.10.0 beats 1.9.0", () => {
  assert.equal(highestVersionTag(["v1.9.0", "deploy-2024", "v1.10.0", "1.2.0"])?.tag, "v1.10.0");
  assert.equal(highestVersionTag(["v2.0.0-rc.1", "v1.9.9"])?.tag, "v2.0.0-rc.1");
  assert.equal(highestVersionTag(["nightly"]), undefined);
});

Deno.test("bumpVersion: as npm semver; a pre-release becomes its release", () => {
  const cases: [string, "major" | "minor" | "patch", string][] = [
    ["1.2.3", "patch", "1.2.4"],
    ["1.2.3", "minor", "1.3.0"],
    ["1.2.3", "major", "2.0.0"],
    ["1.3.0-rc.1", "patch", "1.3.0"],
    ["1.3.0-rc.1", "minor", "1.3.0"],
    ["1.3.0-rc.1", "major", "2.0.0"],
    ["2.0.0-rc.1", "major", "2.0.0"],
    ["1.2.4-rc.1", "minor", "1.3.0"],
  ];
  for (const [from, kind, to] of cases) {
    assert.equal(formatVersion(bumpVersion(v(from), kind), ""), to, `${from} + ${kind}`);
  }
});

Deno.test("nextVersion: keeps the highest tag's style; no version tag yet gives v0.1.0 (v1.0.0 for major)", () => {
  assert.equal(nextVersion(["v1.2.3", "v1.2.10"], "patch"), "v1.2.11");
  assert.equal(nextVersion(["1.2.3"], "minor"), "1.3.0");
  assert.equal(nextVersion([], "patch"), "v0.1.0");
  assert.equal(nextVersion(["not-a-version"], "minor"), "v0.1.0");
  assert.equal(nextVersion([], "major"), "v1.0.0");
});

Deno.test("bumpFromFlags: one flag at most; two are a usage error (exit code 2)", () => {
  assert.equal(bumpFromFlags({}), undefined);
  assert.equal(bumpFromFlags({ "bump-minor": true }), "minor");
  assert.throws(
    () => bumpFromFlags({ "bump-major": true, "bump-patch": true }),
    (e: unknown) =>
      e instanceof UsageError && e.exitCode === 2 &&
      e.message === "Choose one of --bump-major, --bump-minor and --bump-patch: got " +
          "--bump-major and --bump-patch",
  );
});

const base: VersionInputs = {
  mode: "latest",
  tags: ["v1.2.3", "v1.1.0", "old-release"],
  tagsAtCommit: [],
  mergedTags: ["v1.2.3", "v1.1.0"],
  dirty: false,
  increment: "patch",
};

Deno.test("decideVersion --latest: the next version, to be tagged; the changelog starts at the previous tag", () => {
  assert.deepEqual(decideVersion(base), {
    version: "v1.2.4",
    newTag: "v1.2.4",
    previousTag: "v1.2.3",
    reason: "next patch after v1.2.3",
  });
  assert.equal(decideVersion({ ...base, increment: "minor" }).version, "v1.3.0");
  assert.equal(decideVersion({ ...base, bump: "major" }).version, "v2.0.0");
  assert.deepEqual(decideVersion({ ...base, tags: [], mergedTags: [] }), {
    version: "v0.1.0",
    newTag: "v0.1.0",
    previousTag: undefined,
    reason: "first version: no version tag yet",
  });
});

Deno.test("decideVersion --latest: a commit that has a version tag reuses it (another environment, a redeploy)", () => {
  const tagged = { ...base, tagsAtCommit: ["v1.2.3"] };
  assert.deepEqual(decideVersion(tagged), {
    version: "v1.2.3",
    existingTag: "v1.2.3",
    previousTag: "v1.1.0",
    reason: "the commit's tag v1.2.3",
    warning: undefined,
  });
  assert.equal(
    decideVersion({ ...tagged, bump: "minor" }).warning,
    "--bump-minor ignored: the commit already has the version tag v1.2.3",
  );
});

Deno.test("decideVersion --release: the tag's own version, never a new tag; a bump flag is a usage error", () => {
  const r = decideVersion({
    ...base,
    mode: "release",
    releaseTag: "v1.1.0",
    tagsAtCommit: ["v1.1.0"],
    mergedTags: ["v1.1.0", "v1.0.0"],
  });
  assert.deepEqual(r, {
    version: "v1.1.0",
    existingTag: "v1.1.0",
    previousTag: "v1.0.0",
    reason: "the tag v1.1.0",
  });
  assert.equal(
    decideVersion({ ...base, mode: "release", releaseTag: "hotfix", tagsAtCommit: ["hotfix"] })
      .version,
    "hotfix",
  );
  assert.throws(
    () => decideVersion({ ...base, mode: "release", releaseTag: "v1.1.0", bump: "patch" }),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message === "Drop --bump-patch: --release v1.1.0 deploys that tag's own version",
  );
});

Deno.test("decideVersion --local: HEAD's next version marked +local (clean) or -dirty, never tagged", () => {
  const clean = decideVersion({ ...base, mode: "local" });
  assert.equal(clean.version, "v1.2.4+local");
  assert.equal(clean.newTag, undefined);
  const dirty = decideVersion({ ...base, mode: "local", dirty: true });
  assert.equal(dirty.version, "v1.2.4-dirty");
  assert.equal(dirty.newTag, undefined);
  assert.match(dirty.reason, /with uncommitted changes/);
  const taggedClean = decideVersion({ ...base, mode: "local", tagsAtCommit: ["v1.2.3"] });
  assert.equal(taggedClean.version, "v1.2.3+local");
  assert.equal(taggedClean.existingTag, undefined);
  assert.equal(
    decideVersion({ ...base, mode: "local", tagsAtCommit: ["v1.2.3"], dirty: true }).version,
    "v1.2.4-dirty",
  );
});
