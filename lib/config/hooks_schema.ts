/**
 * `[hooks]`: a `[[hooks.<point>]]` array of tables per hook point
 * (docs/hooks.md). Each entry is a shell command line, run on the deploying
 * machine or on each host, as the app user or as root.
 */
import { HOOK_POINTS, type HookCommand, type HookPoint } from "./types.ts";
import type { KeySpec, SectionSpec } from "./schema.ts";
import { describe, Invalid, oneOf, string, tableEntry } from "./validators.ts";
import { markdownTable } from "./release_schema.ts";

const ENTRY_KEYS: Readonly<Record<string, string>> = {
  run: "The shell command line (`/bin/sh -c`).",
  on: '`"remote"` (default): on each host; `"local"`: once on the deploying machine, in the ' +
    "project's folder (for `migrate` and `switch`, once per host).",
  user: "`\"app\"` (default): the app user, with the app's environment, in the app's folder; " +
    '`"root"`: root, in `/`, without the app\'s environment. Remote hooks only.',
};

function hookEntry(value: unknown, index: number, point: HookPoint): HookCommand {
  const { field, required } = tableEntry(value, index, {
    name: `hooks.${point}`,
    keys: Object.keys(ENTRY_KEYS),
  });
  const run = required("run", (v) => {
    const s = string({ lines: true })(v);
    if (s.trim() === "") throw new Invalid(`must be a non-empty command: got ${describe(s)}`);
    return s;
  });
  const on = field("on", oneOf(["remote", "local"] as const)) ?? "remote";
  const user = field("user", oneOf(["app", "root"] as const));
  if (on === "local" && user !== undefined) {
    throw new Invalid(
      'must not be set with on = "local": a local hook runs as you, on this machine: ' +
        `got ${describe(user)}`,
      [index, "user"],
    );
  }
  return { run, on, user: user ?? "app" };
}

function hookList(point: HookPoint): KeySpec {
  return {
    type: "array of tables",
    parse: (value) => {
      if (!Array.isArray(value)) {
        throw new Invalid(
          `must be an array of tables ([[hooks.${point}]]): got ${describe(value)}`,
        );
      }
      return value.map((v, i) => hookEntry(v, i, point));
    },
    defaultText: "none",
    doc: HOOK_DOCS[point],
  };
}

const HOOK_DOCS: Readonly<Record<HookPoint, string>> = {
  before_deploy: "Before a deploy's first change on the hosts (after the artifact is built).",
  after_deploy: "After a deploy succeeded on every host (remote: as each host's last step).",
  before_migrate: "On each host, before migrate and collectstatic.",
  after_migrate: "On each host, after migrate and collectstatic, before the release command.",
  before_switch: "On each host, right before traffic moves to another release " +
    "(deploy, activate, rollback).",
  after_switch: "On each host, once traffic moved (in_place: once the restarted app answers).",
  before_activate: "Before `activate` (bluegreen).",
  after_activate: "After `activate` succeeded.",
  before_rollback: "Before `rollback`.",
  after_rollback: "After `rollback` succeeded.",
  before_restore: "Before `restore` replaces the data.",
  after_restore: "After `restore` succeeded.",
  before_sync_certs: "Before `sync-certs` puts certificates on the hosts.",
  after_sync_certs: "After `sync-certs` succeeded.",
};

export const HOOKS_SECTION: SectionSpec = {
  name: "hooks",
  doc: "Commands run at named points of deploy, activate, rollback, restore and sync-certs " +
    '(docs/hooks.md): `[[hooks.after_switch]]` with `run = "..."`. A failing `before_*` hook ' +
    "or `after_migrate` stops the command before traffic moves; a failing `after_*` hook is " +
    "reported and the command exits 1, but nothing is undone. `--dry-run` lists them and runs " +
    "none. Written in more than one level, the most specific list of a point wins.",
  scopes: ["project", "defaults", "host"],
  keys: Object.fromEntries(HOOK_POINTS.map((p) => [p, hookList(p)])),
  notes: "Keys of each `[[hooks.<point>]]` entry:\n\n" +
    markdownTable(["Key", "Meaning"], Object.entries(ENTRY_KEYS).map(([k, v]) => [`\`${k}\``, v])),
};
