/**
 * certs: HTTPS for the app. Puts each certificate of the host in
 * /etc/djaploy/certs/<name>/ (fullchain.pem 0644, privkey.pem 0600 root),
 * writes the HTTPS site (same locations as the HTTP site) and the
 * HTTP-to-HTTPS redirect, then `nginx -t` and reload; when the test fails,
 * every file is put back as it was. Certificates come from sync-certs (the
 * controller's store, on stdin), from certbot on the server (issue_on =
 * "server"), from `tailscale cert` for the node's tailnet name ([tailscale]
 * cert = true), or, with pregenerate_certificates, are self-signed stand-ins.
 */
import {
  CERTS_DIR,
  certsProbe,
  defineModule,
  domainsForHost,
  httpsModuleParts,
  httpsStep,
  putFile,
  SERVER_CA_BUNDLE,
  type Step,
  UserError,
} from "../../mod.ts";
import { certDeployHook, DEPLOY_HOOK_PATH } from "../../templates/cert_scripts.ts";

/** issue_on = "server": certbot, its deploy hook and the ACME server's CA on the host. */
const serverCertbot: Step = {
  name: "certbot",
  async run(ctx) {
    const certs = ctx.env.certificates;
    if (certs?.issue_on !== "server" || domainsForHost(ctx.env, ctx.host).length === 0) return;
    const state = ctx.facts.get(certsProbe(ctx.host));
    if (!state.certbot) {
      await ctx.exec.run({ argv: ["apt-get", "update", "-qq"], as: "root" });
      await ctx.exec.run({
        argv: ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "certbot"],
        as: "root",
        env: { DEBIAN_FRONTEND: "noninteractive" },
      });
      ctx.changed("installed certbot");
    }
    await putFile(ctx, {
      path: DEPLOY_HOOK_PATH,
      content: certDeployHook(CERTS_DIR),
      mode: "0755",
    });
    if (certs.acme_ca_bundle) {
      let bundle: string;
      try {
        bundle = await Deno.readTextFile(certs.acme_ca_bundle);
      } catch (err) {
        throw new UserError(
          `Cannot read [certificates] acme_ca_bundle ${certs.acme_ca_bundle}: ${
            err instanceof Error ? err.message : err
          }`,
        );
      }
      await putFile(ctx, { path: SERVER_CA_BUNDLE, content: bundle, mode: "0644" });
    }
  },
};

export default defineModule({
  name: "certs",
  ...httpsModuleParts,
  steps: {
    configure: [serverCertbot, httpsStep],
    "deploy:configure": [httpsStep],
  },
});
