/** Secrets of the operations modules' tables, resolved for a step. */
import type { StepContext } from "../engine/module_api.ts";
import { SecretResolver } from "../secrets/resolve.ts";
import type { Secret, SecretRef } from "../secrets/secret.ts";

/**
 * Resolves a secret reference of the host's config through the run's
 * resolver (masked in all output). Contexts made without one (embedders,
 * other tests' helpers) get a resolver of their own: the value is still a
 * Secret, shown as [REDACTED] in commands and dry runs.
 */
export async function configSecret(
  ctx: Pick<StepContext, "secret" | "project">,
  value: string | SecretRef,
  where: string,
): Promise<Secret> {
  if (ctx.secret) return await ctx.secret(value, where);
  const resolver = new SecretResolver({ onSecret: () => {}, baseDir: ctx.project.repo_dir });
  return await resolver.secret(value, where);
}
