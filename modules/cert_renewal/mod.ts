/**
 * cert_renewal: renewal on the server itself (issue_on = "server"), for
 * when no machine runs `djaploy renew-certs` from cron. A systemd timer runs
 * `certbot renew` twice a day; certbot's deploy hook (written by the certs
 * module) installs each renewed certificate for nginx and reloads it, with
 * the same test-and-restore as sync-certs. Debian's own certbot.timer is
 * turned off so that one schedule renews.
 */
import {
  ACME_ROOT,
  certbotConfinement,
  CERTS_DIR,
  defineModule,
  putFile,
  SERVER_CA_BUNDLE,
  type Step,
  unitsProbe,
  UserError,
} from "../../mod.ts";
import { RENEW_UNIT, renewService, renewTimer } from "../../templates/cert_scripts.ts";

const SERVICE_PATH = `/etc/systemd/system/${RENEW_UNIT}.service`;
const TIMER_PATH = `/etc/systemd/system/${RENEW_UNIT}.timer`;
const probe = () => unitsProbe([`${RENEW_UNIT}.timer`, "certbot.timer"], "cert-renewal-units");

const timer: Step = {
  name: "renewal timer",
  async run(ctx) {
    const certs = ctx.env.certificates;
    const specs = ctx.host.modules.map((m) => m.spec);
    if (certs?.issue_on !== "server") {
      throw new UserError(
        'Set [certificates] issue_on = "server" to renew on the server: the cert_renewal module ' +
          "renews certificates that certbot on the server issued",
        { hint: 'With issue_on = "controller", run djaploy renew-certs from cron instead.' },
      );
    }
    if (!specs.includes("certs") || specs.indexOf("certs") > specs.indexOf("cert_renewal")) {
      throw new UserError(`List "certs" before "cert_renewal" in modules for ${ctx.host.name}`);
    }
    const units = ctx.facts.get(probe());
    let dirty = await putFile(ctx, {
      path: SERVICE_PATH,
      content: renewService({
        caBundle: certs.acme_ca_bundle ? SERVER_CA_BUNDLE : undefined,
        confinement: certbotConfinement(ctx.host, { acmeRoot: ACME_ROOT, certsDir: CERTS_DIR }),
      }),
    });
    dirty = await putFile(ctx, { path: TIMER_PATH, content: renewTimer() }) || dirty;
    if (dirty) await ctx.exec.run({ argv: ["systemctl", "daemon-reload"], as: "root" });
    const state = units.get(`${RENEW_UNIT}.timer`);
    if (dirty || state?.enabled !== "enabled" || state?.active !== "active") {
      await ctx.exec.run({
        argv: ["systemctl", "enable", "--now", "--quiet", `${RENEW_UNIT}.timer`],
        as: "root",
      });
      ctx.changed(`enabled ${RENEW_UNIT}.timer`);
    }
    const debian = units.get("certbot.timer");
    if (debian && debian.enabled === "enabled") {
      await ctx.exec.run({
        argv: ["systemctl", "disable", "--now", "--quiet", "certbot.timer"],
        as: "root",
      });
      ctx.changed("disabled certbot.timer (one schedule renews)");
    }
  },
};

export default defineModule({
  name: "cert_renewal",
  description: "Server-side renewal: a systemd timer runs certbot renew; nginx reloads on renewal",
  facts: () => [probe()],
  files: () => [SERVICE_PATH, TIMER_PATH],
  steps: { configure: [timer] },
});
