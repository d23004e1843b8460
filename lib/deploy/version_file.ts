/**
 * The VERSION file: what runs, in the folder it runs from (in_place code/,
 * a zero_downtime release, a bluegreen slot), for the app and for people:
 *
 *   VERSION=v1.2.4
 *   COMMIT=<full sha>
 *   DEPLOYED_AT=2026-11-26T07:01:02Z
 *   ENVIRONMENT=production
 *
 * Written by the strategies right after their upload, when [versioning] is
 * on. A redeploy of the same version and commit leaves it (and its
 * DEPLOYED_AT) alone, so "already live" stays a no-op.
 */
import * as remotePath from "../remote_path.ts";
import { note, type StepContext } from "../engine/module_api.ts";
import { shScript } from "../exec/remote_command.ts";
import { VERSION_FILE_SH } from "./programs.gen.ts";

/** What a deploy writes into the VERSION file; the run starts with it in VERSION_NOTE. */
export interface DeployVersion {
  readonly version: string;
  readonly commit: string;
  readonly environment: string;
  /** [versioning] version_file_path, relative to the code's root. */
  readonly path: string;
}

/** Provided by the deploy command ([versioning]); read by the uploads and the release record. */
export const VERSION_NOTE = note<DeployVersion>("release version");

export function deployVersion(ctx: StepContext): DeployVersion | undefined {
  return ctx.shared.get(VERSION_NOTE);
}

/** `2026-11-26T07:01:02Z`: UTC, ISO 8601, whole seconds. */
export function utcSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function versionFileText(v: DeployVersion, deployedAt: Date): string {
  return [
    `VERSION=${v.version}`,
    `COMMIT=${v.commit}`,
    `DEPLOYED_AT=${utcSeconds(deployedAt)}`,
    `ENVIRONMENT=${v.environment}`,
    "",
  ].join("\n");
}

/** rsync filters that keep the VERSION file through an upload's --delete. */
export function versionFileFilters(ctx: StepContext): string[] {
  const v = deployVersion(ctx);
  return v ? [`P /${v.path}`] : [];
}

export { VERSION_FILE_SH };

/** Writes the VERSION file into `codeDir` (atomically: hard-linked releases are never changed). */
export async function writeVersionFile(ctx: StepContext, codeDir: string): Promise<void> {
  const v = deployVersion(ctx);
  if (!v) return;
  const path = remotePath.join(codeDir, v.path);
  const r = await ctx.exec.run({
    argv: shScript(VERSION_FILE_SH, path),
    as: ctx.host.app_user,
    stdin: versionFileText(v, new Date()),
  });
  ctx.log.debug(`${path}: ${r.stdout.trim() || "written"} (${v.version})`);
}
