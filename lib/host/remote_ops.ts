/**
 * Idempotent operations built on facts, for steps: each compares what is
 * wanted with what the facts say is there, and sends a command only when
 * they differ.
 */
import type { StepContext } from "../engine/module_api.ts";
import { shScript } from "../exec/remote_command.ts";
import { Secret } from "../secrets/secret.ts";
import { isAppWritable } from "./layout.ts";
import { PUT_FILE_SH } from "./programs.gen.ts";
import { sha256, sha256Hex, sharedTextSha256 } from "../hash.ts";

/** A file to put on a host. */
export interface FileSpec {
  /** Absolute path on the host. */
  readonly path: string;
  /** The content; a Secret never shows in logs or dry runs. */
  readonly content: string | Secret;
  /** Octal mode as text, e.g. "0644". */
  readonly mode?: string;
  /** `user:group`, default root:root. */
  readonly owner?: string;
}

export { sha256 };

// put_file.sh writes to a temporary file with a private umask, then renames: readers see
// the old or the new file, never half of one, and a secret is never readable
// by others, not even for a moment. Root runs this only in folders the app
// user cannot write (putFile checks): there the temporary name cannot be a
// link planted to redirect the write, the chown or the rename.

/**
 * Writes a file on the host when its content differs from the facts. Returns
 * true when it wrote. Paths provided by deploy_files are left alone.
 */
export async function putFile(ctx: StepContext, spec: FileSpec): Promise<boolean> {
  if (ctx.deployFiles.has(spec.path)) {
    ctx.log.debug(`${spec.path}: provided by deploy_files, not generated`);
    return false;
  }
  if (isAppWritable(ctx.host, ctx.layout, spec.path)) {
    // A bug, not a user's error: root writing where the app user can plant links.
    throw new Error(
      `Refusing to write ${spec.path} as root: the app user ${ctx.host.app_user} can write its folder`,
    );
  }
  const text = spec.content instanceof Secret ? spec.content.reveal() : spec.content;
  const hash = spec.content instanceof Secret
    ? await sha256Hex(text)
    : await sharedTextSha256(text);
  if (ctx.facts.fileHash(spec.path) === hash) return false;
  await ctx.exec.run({
    argv: shScript(PUT_FILE_SH, spec.path, spec.owner ?? "root:root", spec.mode ?? "0644"),
    as: "root",
    stdin: spec.content instanceof Secret ? spec.content : text,
  });
  ctx.facts.setFileHash(spec.path, hash);
  ctx.changed(`wrote ${spec.path}`);
  return true;
}

/** Runs a command as root on the host. */
export async function asRoot(ctx: StepContext, argv: readonly string[]): Promise<string> {
  return (await ctx.exec.run({ argv, as: "root" })).stdout;
}

/** Runs a command as the app user. */
export async function asApp(
  ctx: StepContext,
  argv: readonly string[],
  opts: { cwd?: string } = {},
): Promise<string> {
  return (await ctx.exec.run({ argv, as: ctx.host.app_user, cwd: opts.cwd })).stdout;
}
