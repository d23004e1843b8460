/** Deploy steps every strategy uses: check, dependencies, Django tasks, restart, health, record. */
import { posix } from "node:path";
import type { Step, StepContext } from "./module.ts";
import { dependencyPlan } from "./dependencies.ts";
import { venvDir } from "./layout.ts";
import { shScript } from "./remote_command.ts";
import {
  BUILD_VENV_SH,
  HEALTH_CHECK_PY,
  MIGRATE_AND_COLLECTSTATIC_PY,
} from "../templates/scripts.ts";
import type { FactProbe } from "./facts.ts";
import type { Layout } from "./layout.ts";
import type { HostConfig } from "./config/types.ts";
import { fileProbe, linkProbe, unitsProbe, userProbe } from "./probes.ts";
import { UserError } from "./errors.ts";

/** The record of what runs on a host, in .djaploy/state.json. */
export interface DeployState {
  readonly strategy: string;
  readonly release: string;
  readonly commit: string;
  readonly ref: string;
  readonly tree: string;
  readonly venv: string;
  readonly deployed_at: string;
  readonly environment: string;
}

export function stateProbe(layout: Layout): FactProbe<DeployState | undefined> {
  const probe = fileProbe("deploy-state", layout.stateFile);
  return {
    ...probe,
    parse: (out, code) => {
      const text = probe.parse(out, code);
      try {
        return text ? JSON.parse(text) as DeployState : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** Names of complete virtualenvs in shared/. */
export function venvsProbe(layout: Layout): FactProbe<Set<string>> {
  return {
    name: "venvs",
    argv: shScript(
      'for d in "$1"/venv-*; do [ -f "$d/.djaploy-complete" ] && echo "$d"; done; true',
      layout.sharedDir,
    ),
    parse: (out) => new Set(out.split("\n").filter(Boolean)),
  };
}

export function deployProbes(host: HostConfig, layout: Layout): FactProbe[] {
  return [
    userProbe(host.app_user),
    stateProbe(layout),
    venvsProbe(layout),
    unitsProbe(host.services),
    linkProbe("venv-link", layout.venvLink),
  ];
}

/**
 * The release is the one that runs, nothing else changed in this run, and
 * its services are up: there is nothing to migrate, restart or check.
 */
export function alreadyLive(ctx: StepContext): boolean {
  if (ctx.force || ctx.hostChanges.length > 0) return false;
  const state = ctx.facts.get(stateProbe(ctx.layout));
  if (!state || state.tree !== ctx.release?.tree || state.venv !== ctx.notes.get("venv")) {
    return false;
  }
  const units = ctx.facts.get(unitsProbe(ctx.host.services));
  return ctx.host.services.every((s) => units.get(s)?.active === "active");
}

export const checkConfigured: Step = {
  name: "check server",
  run(ctx) {
    if (!ctx.facts.get(userProbe(ctx.host.app_user))) {
      throw new UserError(
        `Configure ${ctx.host.name} first: the app user "${ctx.host.app_user}" does not exist there`,
        { hint: `Run: djaploy configure --env ${ctx.env.name}` },
      );
    }
    return Promise.resolve();
  },
};

export const dependencies: Step = {
  name: "dependencies",
  async run(ctx) {
    const release = ctx.release!;
    const plan = await dependencyPlan(ctx.host, release.artifactDir);
    const venv = venvDir(ctx.layout, plan.hash, ctx.host.python_version);
    ctx.notes.set("venv", venv);
    if (!ctx.facts.get(venvsProbe(ctx.layout)).has(venv)) {
      ctx.log.info(`installing with ${plan.manager} (${plan.lockFile} changed)`);
      await ctx.exec.run({
        argv: shScript(
          BUILD_VENV_SH,
          venv,
          `python${ctx.host.python_version}`,
          plan.manager,
          ctx.host.dependencies.system_site_packages ? "1" : "0",
          ctx.layout.codeDir,
          ...ctx.host.dependencies.install_args,
        ),
        as: ctx.host.app_user,
      });
      ctx.changed(`built ${posix.basename(venv)}`);
    }
  },
};

/** Points the venv link of the code at the release's virtualenv. */
export const linkVenv: Step = {
  name: "link virtualenv",
  async run(ctx) {
    const venv = ctx.notes.get("venv") as string;
    // The link itself, not state.json: a failed deploy may have moved it.
    if (ctx.facts.get(linkProbe("venv-link", ctx.layout.venvLink)) === venv) return;
    await ctx.exec.run({ argv: ["ln", "-sfn", venv, ctx.layout.venvLink], as: ctx.host.app_user });
    ctx.changed(`venv -> ${posix.basename(venv)}`);
  },
};

/** manage.py run as the app user, with the app's environment, from the code's folder. */
export function manageArgv(ctx: StepContext, args: readonly string[]): string[] {
  return [
    ctx.layout.runScript,
    posix.join(ctx.layout.venvLink, "bin", "python"),
    ctx.layout.manageFile,
    ...args,
  ];
}

export const migrateAndCollectstatic: Step = {
  name: "migrate and collectstatic",
  async run(ctx) {
    if (alreadyLive(ctx)) return;
    const out = await ctx.exec.run({
      argv: manageArgv(ctx, ["shell", "-c", MIGRATE_AND_COLLECTSTATIC_PY]),
      as: ctx.host.app_user,
      cwd: ctx.layout.manageDir,
    });
    const applied = out.stdout.split("\n").filter((l) => /Applying .* OK/.test(l)).length;
    const copied = /(\d+) static files? copied/.exec(out.stdout)?.[1];
    if (applied) ctx.changed(`applied ${applied} migration${applied === 1 ? "" : "s"}`);
    if (copied && copied !== "0") ctx.changed(`copied ${copied} static files`);
  },
};

export const restartServices: Step = {
  name: "restart services",
  async run(ctx) {
    if (alreadyLive(ctx)) {
      ctx.log.info(
        `already live: ${ctx.release!.name} (${
          ctx.release!.ref
        }) runs and nothing changed; --force redeploys`,
      );
      ctx.notes.set("alreadyLive", true);
      return;
    }
    await ctx.exec.run({ argv: ["systemctl", "restart", ...ctx.host.services], as: "root" });
    ctx.changed(`restarted ${ctx.host.services.join(", ")}`);
  },
};

export async function healthCheck(ctx: StepContext, socketPath: string): Promise<void> {
  const hc = ctx.host.health_check;
  if (!hc.path) return;
  const r = await ctx.exec.run({
    argv: [
      "python3",
      "-c",
      HEALTH_CHECK_PY,
      socketPath,
      hc.path,
      hc.host,
      String(hc.expected_status),
      String(hc.retries),
      String(hc.interval),
    ],
    okCodes: [0, 1],
  });
  if (r.code !== 0) {
    throw new UserError(
      `Fix the app on ${ctx.host.name}: the health check failed: ${r.stderr.trim()}`,
      {
        hint: `See the app's log: journalctl -u ${ctx.layout.unitName} -n 50 (or djaploy logs)`,
      },
    );
  }
  ctx.log.debug(r.stdout.trim());
}

export const healthCheckStep: Step = {
  name: "health check",
  run: (ctx) =>
    ctx.notes.get("alreadyLive") ? Promise.resolve() : healthCheck(ctx, ctx.layout.socketPath),
};

export const recordRelease: Step = {
  name: "record release",
  async run(ctx) {
    if (ctx.notes.get("alreadyLive")) return;
    const r = ctx.release!;
    const state: DeployState = {
      strategy: ctx.host.deployment_strategy,
      release: r.name,
      commit: r.commit,
      ref: r.ref,
      tree: r.tree,
      venv: ctx.notes.get("venv") as string,
      deployed_at: new Date().toISOString(),
      environment: ctx.env.name,
    };
    await ctx.exec.run({
      argv: shScript('umask 022; cat > "$1.new" && mv -f "$1.new" "$1"', ctx.layout.stateFile),
      as: ctx.host.app_user,
      stdin: JSON.stringify(state, null, 2) + "\n",
    });
  },
};
