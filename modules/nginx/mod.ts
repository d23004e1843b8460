/** nginx: the app's site (static and media from disk, the rest to gunicorn), tested before reload. */
import {
  ACME_ROOT,
  defineModule,
  DEPLOY_FILES_CHANGED,
  type FactProbe,
  INSTALLED_PACKAGES,
  type Layout,
  linkProbe,
  putFile,
  shScript,
  type Step,
  type StepContext,
  testAndReload,
} from "../../mod.ts";
import { nginxSite } from "../../templates/nginx_site.ts";
import { nginxUpstream } from "../../templates/nginx_upstream.ts";
import { SWITCH_SOCKET_SH } from "../../templates/scripts.ts";

const DEFAULT_SITE = "/etc/nginx/sites-enabled/default";

interface NginxState {
  /** Where sites-enabled/{app}.conf points, if it exists. */
  readonly link?: string;
  readonly defaultSite: boolean;
  readonly active: boolean;
  readonly enabled: boolean;
  readonly acmeRoot: boolean;
}

function nginxProbe(layout: Layout): FactProbe<NginxState> {
  return {
    name: "nginx",
    argv: shScript(
      `printf 'link=%s\\n' "$(readlink "$1")"
[ -e "$2" ] && echo default=1
systemctl show --property=ActiveState,UnitFileState nginx
[ -d "$3" ] && echo acme=1
true`,
      layout.nginxEnabledPath,
      DEFAULT_SITE,
      ACME_ROOT,
    ),
    parse: (out) => ({
      link: /^link=(.+)$/m.exec(out)?.[1],
      defaultSite: /^default=1$/m.test(out),
      active: /^ActiveState=active$/m.test(out),
      // The states for which `systemctl is-enabled` succeeds.
      enabled:
        /^UnitFileState=(enabled|enabled-runtime|static|indirect|generated|alias|transient)$/m
          .test(out),
      acmeRoot: /^acme=1$/m.test(out),
    }),
  };
}

/**
 * Every strategy serves through the same upstream file, which names the
 * live-socket link (/run/djaploy/<app>.sock); strategies move the link. So
 * the site never changes when the strategy does: no nginx reload, no
 * keep-alive connection closed under a client.
 */
function siteText(ctx: StepContext): string {
  const h = ctx.host;
  return nginxSite({
    appName: h.app_name,
    serverName: h.nginx.server_name,
    listen: h.nginx.listen,
    clientMaxBodySize: h.nginx.client_max_body_size,
    upstreamFile: ctx.layout.upstreamFile,
    staticRoot: ctx.layout.liveStatic,
    mediaRoot: ctx.layout.mediaRoot,
    acmeRoot: ACME_ROOT,
    snippetsDir: ctx.layout.nginxSnippetsDir,
  });
}

const site: Step = {
  name: "nginx site",
  async run(ctx) {
    const justInstalled = (ctx.shared.get(INSTALLED_PACKAGES) ?? []).includes(
      "nginx",
    );
    const state = ctx.facts.get(nginxProbe(ctx.layout));
    // A new server: the links point at in_place's socket and static folder until a deploy
    // moves them (the in_place unit points them there itself whenever it starts). A server
    // whose releases shared shared/staticfiles (djaploy before static files per slot) serves
    // from there until its next switch.
    const links = [
      ...(ctx.facts.get(linkProbe("live-static", ctx.layout.liveStatic)) === undefined
        ? [ctx.layout.liveStatic, ctx.layout.staticRoot]
        : []),
      ...(ctx.facts.get(linkProbe("live-socket", ctx.layout.liveSocket)) === undefined
        ? [ctx.layout.liveSocket, ctx.layout.socketPath]
        : []),
    ];
    if (links.length) {
      await ctx.exec.run({ argv: shScript(SWITCH_SOCKET_SH, ...links), as: "root" });
    }
    let dirty = await putFile(ctx, {
      path: ctx.layout.upstreamFile,
      content: nginxUpstream(ctx.host.app_name, ctx.layout.liveSocket),
    });
    dirty = await putFile(ctx, { path: ctx.layout.nginxSitePath, content: siteText(ctx) }) || dirty;
    const fromDeployFiles = (ctx.shared.get(DEPLOY_FILES_CHANGED) ?? [])
      .some((p) => p.startsWith("/etc/nginx/"));
    const fixes: string[][] = [];
    if (state.link !== ctx.layout.nginxSitePath) {
      fixes.push(["ln", "-sfn", ctx.layout.nginxSitePath, ctx.layout.nginxEnabledPath]);
    }
    // Debian's default site also claims port 80 as default_server.
    if (state.defaultSite || justInstalled) fixes.push(["rm", "-f", DEFAULT_SITE]);
    if (!state.acmeRoot) fixes.push(["install", "-d", "-m", "0755", ACME_ROOT]);
    for (const argv of fixes) await ctx.exec.run({ argv, as: "root" });
    if (fixes.length) ctx.changed("enabled the site");
    dirty ||= fixes.length > 0 || fromDeployFiles || !state.active;
    if (dirty) await testAndReload(ctx);
    if (!state.enabled && !justInstalled) {
      await ctx.exec.run({ argv: ["systemctl", "enable", "--quiet", "nginx"], as: "root" });
      ctx.changed("enabled nginx");
    }
  },
};

/** Whether new files and folders below media/ get nginx's read access (a default ACL). */
function mediaAclProbe(layout: Layout): FactProbe<boolean> {
  return {
    name: "nginx:media-acl",
    argv: shScript(
      'getfacl -p --omit-header -- "$1" 2>/dev/null | grep -qx "default:user:www-data:r-x" && echo yes; true',
      layout.mediaRoot,
    ),
    parse: (out) => out.trim() === "yes",
  };
}

/**
 * The app's units create files with umask 0027 (templates/hardening.ts):
 * not readable by nginx (www-data). A default ACL on media/, set by the app
 * user who owns it, gives www-data read access to every file and folder the
 * app creates there (Django makes upload folders with the umask).
 */
const mediaAccess: Step = {
  name: "media readable by nginx",
  async run(ctx) {
    if (ctx.facts.get(mediaAclProbe(ctx.layout))) return;
    await ctx.exec.run({
      argv: ["setfacl", "-m", "u:www-data:rX,d:u:www-data:rX,d:g::rX,d:o::-", ctx.layout.mediaRoot],
      as: ctx.host.app_user,
    });
    ctx.changed("media/: nginx reads what the app creates (default ACL)");
  },
};

export default defineModule({
  name: "nginx",
  description: "The app's nginx site, with static and media files served from disk",
  packages: () => ["nginx", "acl"],
  facts: (_host, layout) => [
    nginxProbe(layout),
    linkProbe("live-socket", layout.liveSocket),
    linkProbe("live-static", layout.liveStatic),
    mediaAclProbe(layout),
  ],
  files: (_host, layout) => [layout.nginxSitePath, layout.upstreamFile],
  steps: { configure: [site, mediaAccess], "deploy:configure": [site, mediaAccess] },
});
