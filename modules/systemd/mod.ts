/** systemd: the app's gunicorn unit; units reloaded and enabled when they change. */
import {
  appUnitsProbe,
  bootConfinement,
  defineModule,
  DEPLOY_FILES_CHANGED,
  hasSlots,
  liveProcessTarget,
  processUnitFiles,
  processUnitsProbe,
  putFile,
  remotePath,
  slotLayout,
  stateProbe,
  type Step,
  type StepContext,
  syncProcessUnits,
  webConfinement,
} from "../../mod.ts";
import { gunicornUnit, slotsBootUnit } from "../../templates/systemd_unit.ts";

function unitText(ctx: StepContext): string {
  const h = ctx.host;
  return gunicornUnit({
    appName: h.app_name,
    appUser: h.app_user,
    workingDirectory: ctx.layout.manageDir,
    envFile: ctx.layout.envFile,
    runtimeDirectory: remotePath.basename(ctx.layout.runtimeDir),
    python: remotePath.join(ctx.layout.venvLink, "bin", "python"),
    socketPath: ctx.layout.socketPath,
    staticRoot: ctx.layout.staticRoot,
    wsgiModule: h.gunicorn.wsgi_module,
    workers: h.gunicorn.workers,
    timeout: h.gunicorn.timeout,
    preload: h.gunicorn.preload_app,
    extraArgs: h.gunicorn.extra_args,
    liveSocketLink: ctx.layout.liveSocket,
    liveStaticLink: ctx.layout.liveStatic,
    confinement: webConfinement(h, ctx.layout),
  });
}

const units: Step = {
  name: "systemd units",
  async run(ctx) {
    // Slot strategies write their {app}-blue/-green units when they deploy;
    // here only the unit that starts the live slot at boot.
    const slots = hasSlots(ctx.host);
    const wrote = slots
      ? await putFile(ctx, {
        path: `/etc/systemd/system/${ctx.layout.slotsBootUnit}`,
        content: slotsBootUnit({
          appName: ctx.host.app_name,
          activeSlotFile: ctx.layout.activeSlotFile,
          liveSocket: ctx.layout.liveSocket,
          slotSockets: {
            blue: slotLayout(ctx.host, ctx.layout, "blue").socketPath,
            green: slotLayout(ctx.host, ctx.layout, "green").socketPath,
          },
          confinement: bootConfinement(ctx.host, ctx.layout),
        }),
      })
      : await putFile(ctx, { path: ctx.layout.unitPath, content: unitText(ctx) });
    const fromDeployFiles = (ctx.shared.get(DEPLOY_FILES_CHANGED) ?? [])
      .some((p) => p.startsWith("/etc/systemd/"));
    const state = ctx.facts.get(appUnitsProbe(ctx.host));
    if (wrote || fromDeployFiles) {
      await ctx.exec.run({ argv: ["systemctl", "daemon-reload"], as: "root" });
    }
    const web = [ctx.host.app_name, ctx.layout.unitName];
    const wanted = slots
      ? [...ctx.host.services.filter((s) => !web.includes(s)), ctx.layout.slotsBootUnit]
      : ctx.host.services;
    const disabled = wanted.filter((s) => state.get(s)?.enabled !== "enabled");
    if (disabled.length) {
      await ctx.exec.run({ argv: ["systemctl", "enable", "--quiet", ...disabled], as: "root" });
      ctx.changed(`enabled ${disabled.join(", ")}`);
    }
  },
};

/**
 * `configure` on a host that runs a release: the `[processes]` and
 * `[[schedule]]` units as the config says now, for the live release (the
 * first deploy writes them otherwise); changed processes restart.
 */
const processUnits: Step = {
  name: "process units",
  async run(ctx) {
    const live = liveProcessTarget(ctx.host, ctx.layout, ctx.facts.get(stateProbe(ctx.layout)));
    if (!live) return;
    const { changed } = await syncProcessUnits(ctx, live);
    if (changed.length === 0) return;
    await ctx.exec.run({ argv: ["systemctl", "restart", ...changed], as: "root" });
    ctx.changed(`restarted ${changed.join(", ")}`);
  },
};

export default defineModule({
  name: "systemd",
  description: "The app's gunicorn service unit, enabled at boot",
  facts: (host, layout) => [appUnitsProbe(host), stateProbe(layout), processUnitsProbe(host)],
  files: (host, layout) => [
    hasSlots(host) ? `/etc/systemd/system/${layout.slotsBootUnit}` : layout.unitPath,
    ...processUnitFiles(host),
  ],
  steps: { configure: [units, processUnits], "deploy:configure": [units] },
});
