/** systemd: the app's gunicorn unit; units reloaded and enabled when they change. */
import { posix } from "node:path";
import { defineModule, type Step, type StepContext } from "../../lib/module.ts";
import { putFile } from "../../lib/remote_ops.ts";
import { unitsProbe } from "../../lib/probes.ts";
import { gunicornUnit } from "../../templates/systemd_unit.ts";

function unitText(ctx: StepContext): string {
  const h = ctx.host;
  return gunicornUnit({
    appName: h.app_name,
    appUser: h.app_user,
    workingDirectory: ctx.layout.manageDir,
    envFile: ctx.layout.envFile,
    runtimeDirectory: posix.basename(ctx.layout.runtimeDir),
    python: posix.join(ctx.layout.venvLink, "bin", "python"),
    socketPath: ctx.layout.socketPath,
    wsgiModule: h.gunicorn.wsgi_module,
    workers: h.gunicorn.workers,
    timeout: h.gunicorn.timeout,
    extraArgs: h.gunicorn.extra_args,
  });
}

const units: Step = {
  name: "systemd units",
  async run(ctx) {
    const wrote = await putFile(ctx, { path: ctx.layout.unitPath, content: unitText(ctx) });
    const fromDeployFiles = ((ctx.notes.get("deployFilesChanged") ?? []) as string[])
      .some((p) => p.startsWith("/etc/systemd/"));
    const state = ctx.facts.get(unitsProbe(ctx.host.services));
    if (wrote || fromDeployFiles) {
      await ctx.exec.run({ argv: ["systemctl", "daemon-reload"], as: "root" });
    }
    const disabled = ctx.host.services.filter((s) => state.get(s)?.enabled !== "enabled");
    if (disabled.length) {
      await ctx.exec.run({ argv: ["systemctl", "enable", "--quiet", ...disabled], as: "root" });
      ctx.changed(`enabled ${disabled.join(", ")}`);
    }
  },
};

export default defineModule({
  name: "systemd",
  description: "The app's gunicorn service unit, enabled at boot",
  facts: (host) => [unitsProbe(host.services)],
  files: (_host, layout) => [layout.unitPath],
  steps: { configure: [units], "deploy:configure": [units] },
});
