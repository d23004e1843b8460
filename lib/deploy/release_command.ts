/**
 * `[release] command` (Heroku's Procfile `release:`): runs once per deploy,
 * in the new release, after migrate and before any host moves traffic
 * (docs/hooks.md). One host runs it, the first of the deploy in inventory
 * order (the leader); every host of its batch waits at a barrier until it
 * succeeded, so when it fails no host switches and the old release serves.
 */
import * as remotePath from "../remote_path.ts";
import type { Step, StepContext } from "../engine/module_api.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import { ALREADY_LIVE, tasksTarget, unchangedSinceLive } from "./steps.ts";
import { CommandError, exitCodeMeaning, lastLines, UserError } from "../errors.ts";

/** The barrier every host of the leader's batch meets at once the command succeeded. */
export const RELEASE_BARRIER = "release command";

/** A PATH with the release's virtualenv first (what a Procfile's commands expect). */
const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";

/**
 * The command as the leader runs it: as the app user, through the run
 * wrapper (the app's environment, never on argv), in the new release's
 * manage.py folder, its virtualenv's bin first in PATH.
 */
export function releaseCommand(ctx: StepContext, command: string): RemoteCommand {
  const t = tasksTarget(ctx);
  const venv = remotePath.dirname(remotePath.dirname(t.python));
  return {
    argv: [
      ctx.layout.runScript,
      "env",
      `PATH=${remotePath.join(venv, "bin")}:${SYSTEM_PATH}`,
      `VIRTUAL_ENV=${venv}`,
      `STATIC_ROOT=${t.staticRoot}`,
      "sh",
      "-c",
      command,
    ],
    as: ctx.host.app_user,
    cwd: t.manageDir,
  };
}

/**
 * The deploy step that runs the release command on `leader` and holds every
 * other host of the batch until it succeeded. Nothing to do without one.
 */
export function releaseCommandStep(leader: string): Step {
  return {
    name: "release command",
    async run(ctx) {
      const command = ctx.host.release?.command;
      if (!command) return;
      if (ctx.host.name === leader) await runRelease(ctx, command);
      else ctx.log.info(`waiting for ${leader} to run the release command`);
      await ctx.barrier(RELEASE_BARRIER);
    },
  };
}

async function runRelease(ctx: StepContext, command: string): Promise<void> {
  // The strategies tell whether the release already runs only when they start it, after this.
  if (ctx.shared.get(ALREADY_LIVE) || unchangedSinceLive(ctx)) {
    ctx.log.info("skipped: this release already runs and nothing changed (--force runs it)");
    return;
  }
  try {
    const r = await ctx.exec.run(releaseCommand(ctx, command));
    if (r.stdout.trim()) ctx.log.debug(r.stdout.trim());
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    throw new UserError(
      `Fix the release command ${JSON.stringify(command)}: it exited with code ${err.code} ` +
        `(${exitCodeMeaning(err.code)}) on ${ctx.host.name}; no host moved traffic: the old ` +
        "release serves",
      { hint: lastLines(err.stderr, 10) || undefined, cause: err },
    );
  }
  ctx.changed("ran the release command");
}
