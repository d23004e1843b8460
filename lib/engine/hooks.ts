/**
 * Hooks (docs/hooks.md): `[[hooks.<point>]]` commands and modules' `hooks`
 * steps, run at named points of deploy, activate, rollback, restore and
 * sync-certs. A point is either the command's own (before_deploy,
 * after_rollback, ...: local hooks once, remote ones as a step on each host)
 * or one that happens on each host (migrate, switch: `ctx.hook(point)` in the
 * step that does it).
 *
 * Before traffic moves a failing hook stops the command (the old release
 * serves); after it, the failure is reported, the command goes on, nothing is
 * undone and the command exits 1.
 */
import type { HookCommand, HookPoint, HostConfig, ProjectConfig } from "../config/types.ts";
import type { ModuleDefinition, Step, StepContext } from "./module_api.ts";
import type { RemoteCommand } from "../exec/remote_command.ts";
import type { Ui } from "../output/ui.ts";
import { CommandError, exitCodeMeaning, lastLines, UserError } from "../errors.ts";
import { runProcess } from "../exec/process.ts";

/** The commands that have hook points of their own. */
export type HookedCommand = "deploy" | "activate" | "rollback" | "restore" | "sync_certs";

/** A hook that failed after traffic moved (or the command's work was done). */
export interface HookFailure {
  readonly point: HookPoint;
  /** The host, or "this machine". */
  readonly where: string;
  readonly message: string;
}

/** Runs a local hook's command line; the default runs `sh -c` in the project's folder. */
export type LocalRunner = (
  run: string,
  opts: { readonly cwd: string; readonly env: Readonly<Record<string, string>> },
) => Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }>;

export interface HookRunOptions {
  readonly command: HookedCommand;
  readonly ui: Ui;
  readonly dryRun: boolean;
  readonly project: ProjectConfig;
  /** The environment's name (DJAPLOY_ENV). */
  readonly envName: string;
  /** The modules of a host, whose `hooks` steps run at each point. */
  readonly modules?: (host: HostConfig) => Promise<readonly ModuleDefinition[]>;
  readonly local?: LocalRunner;
  /** Ends running local hooks (a second SIGINT). */
  readonly signal?: AbortSignal;
}

export interface HookRun {
  readonly command: HookedCommand;
  /** after_* hooks that failed: reported, nothing undone. */
  readonly failures: readonly HookFailure[];
  /** The hooks of a point that happens on the context's host (StepContext.hook). */
  atHost(ctx: StepContext, point: HookPoint): Promise<void>;
  /** The local hooks of the command's own point, once, with the first host's settings. */
  local(point: HookPoint, hosts: readonly HostConfig[]): Promise<void>;
  /** A step running the remote hooks and module steps of the command's own point; none if it has none. */
  hostSteps(point: HookPoint, host: HostConfig): Promise<Step[]>;
  /** After the summary: repeats the failed after_* hooks. */
  report(): void;
}

/** Whether a failing hook at this point stops the command: before traffic moves. */
export function hookAborts(point: HookPoint): boolean {
  return point.startsWith("before_") || point === "after_migrate";
}

/** The command's own points: `before_deploy` and `after_deploy` for deploy, ... */
export function commandPoints(command: HookedCommand): { before: HookPoint; after: HookPoint } {
  return { before: `before_${command}` as HookPoint, after: `after_${command}` as HookPoint };
}

/** What every hook gets in its environment (never a secret: these are on the command line). */
export function hookVars(
  point: HookPoint,
  o: { envName: string; app: string; host?: string; hosts?: string; release?: string },
): Record<string, string> {
  return {
    DJAPLOY_HOOK: point,
    DJAPLOY_ENV: o.envName,
    DJAPLOY_APP: o.app,
    ...(o.host ? { DJAPLOY_HOST: o.host } : {}),
    ...(o.hosts ? { DJAPLOY_HOSTS: o.hosts } : {}),
    ...(o.release ? { DJAPLOY_RELEASE: o.release } : {}),
  };
}

/**
 * A remote hook as the host runs it. As the app user: through the run
 * wrapper (the app's environment, from root's env file, never argv), in the
 * app's folder. As root: in `/`, a folder the app user cannot write, without
 * the app's environment (docs/how-it-works.md, "Who may act on what").
 */
export function remoteHookCommand(
  ctx: Pick<StepContext, "host" | "layout" | "env" | "release">,
  point: HookPoint,
  hook: HookCommand,
): RemoteCommand {
  const env = hookVars(point, {
    envName: ctx.env.name,
    app: ctx.host.app_name,
    host: ctx.host.name,
    release: ctx.release?.name,
  });
  return hook.user === "root" ? { argv: ["sh", "-c", hook.run], as: "root", cwd: "/", env } : {
    argv: [ctx.layout.runScript, "sh", "-c", hook.run],
    as: ctx.host.app_user,
    cwd: ctx.layout.appDir,
    env,
  };
}

const defaultLocal: (signal?: AbortSignal) => LocalRunner = (signal) => (run, opts) =>
  runProcess("sh", ["-c", run], { cwd: opts.cwd, env: opts.env, signal });

export function hookRun(opts: HookRunOptions): HookRun {
  const failures: HookFailure[] = [];
  const local = opts.local ?? defaultLocal(opts.signal);
  const { ui } = opts;

  const hooksOf = (host: HostConfig, point: HookPoint, on: "local" | "remote") =>
    (host.hooks?.[point] ?? []).filter((h) => h.on === on);

  /** Fails (before) or reports (after): the error a hook's failure becomes. */
  function failed(point: HookPoint, where: string, what: string, err: unknown): void {
    const detail = err instanceof CommandError
      ? `exit code ${err.code} (${exitCodeMeaning(err.code)})`
      : err instanceof Error
      ? err.message.split("\n")[0]
      : String(err);
    const tail = err instanceof CommandError ? lastLines(err.stderr, 8) : "";
    if (hookAborts(point)) {
      throw new UserError(
        `Fix the ${point} hook ${what}: it failed on ${where} with ${detail}; ` +
          "the command stopped before traffic moved: the old release serves",
        { hint: tail || undefined, cause: err },
      );
    }
    const message = `the ${point} hook ${what} failed on ${where} with ${detail}; ` +
      "nothing was undone" +
      (tail ? `:\n${tail.split("\n").map((l) => `  | ${l}`).join("\n")}` : "");
    failures.push({ point, where, message });
    ui.warn(message);
    ui.event({ event: "hook", status: "failed", point, where, error: message.split("\n")[0] });
  }

  async function runLocal(point: HookPoint, hook: HookCommand, vars: Record<string, string>) {
    if (opts.dryRun) {
      ui.line(`hook ${point}: would run here: ${hook.run}`);
      return;
    }
    ui.line(`hook ${point}: ${hook.run}`);
    const r = await local(hook.run, { cwd: opts.project.repo_dir, env: vars });
    if (r.stdout.trim()) ui.debug(r.stdout.trim());
    if (r.code !== 0) {
      throw new CommandError({
        host: "this machine",
        command: hook.run,
        code: r.code,
        stderr: r.stderr || r.stdout,
      });
    }
  }

  /** Remote hooks and module steps of a point on the context's host. */
  async function onHost(ctx: StepContext, point: HookPoint): Promise<void> {
    for (const hook of hooksOf(ctx.host, point, "remote")) {
      try {
        const r = await ctx.exec.run(remoteHookCommand(ctx, point, hook));
        ctx.log.info(`${point}: ran ${JSON.stringify(hook.run)} as ${hook.user}`);
        if (r.stdout.trim()) ctx.log.debug(r.stdout.trim());
      } catch (err) {
        failed(point, ctx.host.name, JSON.stringify(hook.run), err);
      }
    }
    for (const m of await opts.modules?.(ctx.host) ?? []) {
      for (const step of m.hooks?.[point] ?? []) {
        try {
          await step.run(ctx);
        } catch (err) {
          failed(point, ctx.host.name, `step "${step.name}" of module ${m.name}`, err);
        }
      }
    }
  }

  return {
    command: opts.command,
    failures,

    async atHost(ctx, point) {
      const vars = hookVars(point, {
        envName: opts.envName,
        app: ctx.host.app_name,
        host: ctx.host.name,
        release: ctx.release?.name,
      });
      for (const hook of hooksOf(ctx.host, point, "local")) {
        try {
          await runLocal(point, hook, vars);
        } catch (err) {
          failed(point, `this machine (for ${ctx.host.name})`, JSON.stringify(hook.run), err);
        }
      }
      await onHost(ctx, point);
    },

    async local(point, hosts) {
      const first = hosts[0];
      if (!first) return;
      const vars = hookVars(point, {
        envName: opts.envName,
        app: first.app_name,
        hosts: hosts.map((h) => h.name).join(","),
      });
      for (const hook of hooksOf(first, point, "local")) {
        try {
          await runLocal(point, hook, vars);
        } catch (err) {
          failed(point, "this machine", JSON.stringify(hook.run), err);
        }
      }
    },

    async hostSteps(point, host) {
      const modules = await opts.modules?.(host) ?? [];
      const any = hooksOf(host, point, "remote").length > 0 ||
        modules.some((m) => (m.hooks?.[point]?.length ?? 0) > 0);
      return any ? [{ name: `${point} hooks`, run: (ctx) => onHost(ctx, point) }] : [];
    },

    report() {
      if (failures.length === 0) return;
      ui.error(
        `\n${failures.length} hook${failures.length === 1 ? "" : "s"} failed after the ` +
          "work was done (exit code 1; nothing was undone):",
      );
      for (const f of failures) ui.error(`  ${f.point} on ${f.where}`);
    },
  };
}
