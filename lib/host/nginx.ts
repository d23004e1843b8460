/**
 * nginx operations the nginx module and `djaploy maintenance` share.
 */
import type { StepContext } from "../engine/module_api.ts";
import { UserError } from "../errors.ts";

/** `nginx -t`, then reload (or start): a config that does not pass the test is never loaded. */
export async function testAndReload(ctx: StepContext): Promise<void> {
  const test = await ctx.exec.run({ argv: ["nginx", "-t", "-q"], as: "root", okCodes: [0, 1] });
  if (test.code !== 0) {
    throw new UserError(`Fix the nginx configuration on ${ctx.host.name}: nginx -t failed`, {
      hint: test.stderr.trim(),
    });
  }
  await ctx.exec.run({ argv: ["systemctl", "reload-or-restart", "nginx"], as: "root" });
}
