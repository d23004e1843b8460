/**
 * Maintenance mode (nginx): `djaploy maintenance on` writes a
 * snippet into the folder the app's site includes, so that nginx answers
 * 503 with a page (the project's own from deploy_files, or a built-in one);
 * `off` removes it. Both test the configuration before reloading, and a
 * snippet nginx refuses is removed again.
 */
import * as remotePath from "../remote_path.ts";
import type { Step, StepContext } from "../engine/module_api.ts";
import type { FactProbe } from "./facts.ts";
import type { HostConfig } from "../config/types.ts";
import type { Layout } from "./layout.ts";
import { fileProbe } from "./probes.ts";
import { putFile } from "./remote_ops.ts";
import { maintenanceSnippet, WAIT_FOR_NGINX_PY } from "../../templates/nginx_maintenance.ts";
import { testAndReload } from "./nginx.ts";

export const MAINTENANCE_PAGE = "maintenance.html";
/** Seconds clients are asked to wait before trying again. */
export const RETRY_AFTER = 300;

export interface MaintenancePaths {
  readonly snippet: string;
  readonly page: string;
}

export function maintenancePaths(layout: Layout): MaintenancePaths {
  return {
    snippet: remotePath.join(layout.nginxSnippetsDir, "maintenance.conf"),
    page: remotePath.join(layout.nginxSnippetsDir, MAINTENANCE_PAGE),
  };
}

/** The snippet's text on the host, or undefined when maintenance mode is off. */
export function maintenanceProbe(layout: Layout): FactProbe<string | undefined> {
  return fileProbe("maintenance-snippet", maintenancePaths(layout).snippet);
}

/** The files whose hashes `on` compares (the page). */
export function maintenanceFiles(_host: HostConfig, layout: Layout): string[] {
  return [maintenancePaths(layout).page];
}

/** Who turned maintenance on and since when, from the snippet's first line. */
export function maintenanceNote(snippet: string): string {
  return /^# Written by djaploy maintenance on \((.*)\)\.$/m.exec(snippet)?.[1] ?? "";
}

export interface MaintenanceOnOptions {
  /** The page's HTML for a host. */
  readonly page: (host: HostConfig) => string;
  /** Who and when, written into the snippet. */
  readonly note: string;
}

export function maintenanceOnStep(opts: MaintenanceOnOptions): Step {
  return {
    name: "maintenance on",
    async run(ctx) {
      const paths = maintenancePaths(ctx.layout);
      await ctx.exec.run({
        argv: ["install", "-d", "-m", "0755", ctx.layout.nginxSnippetsDir],
        as: "root",
      });
      // The page is read per request: a new one needs no reload.
      await putFile(ctx, { path: paths.page, content: opts.page(ctx.host) });
      const current = ctx.facts.get(maintenanceProbe(ctx.layout));
      if (current !== undefined) {
        ctx.log.info(`already on (${maintenanceNote(current) || "since before"})`);
        return;
      }
      await putFile(ctx, {
        path: paths.snippet,
        content: maintenanceSnippet({
          root: ctx.layout.nginxSnippetsDir,
          page: MAINTENANCE_PAGE,
          retryAfter: RETRY_AFTER,
          note: opts.note,
        }),
      });
      await reloadOrUndo(ctx, paths.snippet);
      await waitForNginx(ctx, true);
      ctx.changed("nginx answers 503 with the maintenance page");
    },
  };
}

export const maintenanceOffStep: Step = {
  name: "maintenance off",
  async run(ctx) {
    const paths = maintenancePaths(ctx.layout);
    if (ctx.facts.get(maintenanceProbe(ctx.layout)) === undefined) {
      ctx.log.info("already off");
      return;
    }
    await ctx.exec.run({ argv: ["rm", "-f", paths.snippet], as: "root" });
    await testAndReload(ctx);
    await waitForNginx(ctx, false);
    // Only now: nginx's old workers serve the page until the reload is done.
    await ctx.exec.run({ argv: ["rm", "-f", paths.page], as: "root" });
    ctx.changed("nginx serves the app again");
  },
};

/** `nginx -t` and reload; when nginx refuses the snippet, it is removed again before the error. */
async function reloadOrUndo(ctx: StepContext, snippet: string): Promise<void> {
  try {
    await testAndReload(ctx);
  } catch (err) {
    await ctx.exec.run({ argv: ["rm", "-f", snippet], as: "root", okCodes: [0, 1] });
    throw err;
  }
}

/**
 * Returns once nginx's new workers answer (503 or not): when the command
 * ends, visitors see what it said. A site nginx does not serve on
 * 127.0.0.1 is a warning, not a failure.
 */
async function waitForNginx(ctx: StepContext, maintenance: boolean): Promise<void> {
  if (ctx.dryRun) return;
  const r = await ctx.exec.run({
    argv: [
      "python3",
      "-c",
      WAIT_FOR_NGINX_PY,
      String(ctx.host.nginx.listen),
      ctx.host.health_check.host,
      maintenance ? "1" : "0",
      "50",
    ],
    okCodes: [0, 1],
    readOnly: true,
  });
  if (r.code !== 0) {
    ctx.log.warn(
      `nginx does not answer ${maintenance ? "503" : "without 503"} yet: ${r.stderr.trim()}`,
    );
  }
}
