/**
 * core: the app user, its directories, Python with venv support, the
 * dependency tooling, the app's environment file and infra/deploy_files.
 */
import {
  configuredManager,
  defineModule,
  DEPLOY_FILES_CHANGED,
  DEPLOY_FILES_DIR,
  dirsProbe,
  type FactProbe,
  type HostConfig,
  indexFiles,
  INSTALLED_PACKAGES,
  isSecretRef,
  type Layout,
  managerTool,
  packagesProbe,
  putFile,
  type RemoteCommand,
  remotePath,
  runChain,
  Secret,
  type SecretRef,
  shScript,
  type Step,
  type StepContext,
  toolsProbe,
  UserError,
  userProbe,
} from "../../mod.ts";
import { envFile } from "../../templates/env_file.ts";
import { INSTALL_TOOL_SH, runWrapper } from "../../templates/scripts.ts";
import python, { buildPython } from "./python.ts";

/** The app's folders, made by the app user itself. */
export function appDirs(layout: Layout): string[] {
  return [
    layout.dataDir,
    remotePath.dirname(layout.appDir),
    layout.appDir,
    layout.sharedDir,
    layout.staticRoot,
    layout.mediaRoot,
    layout.stateDir,
    layout.releasesDir,
    layout.slotsDir,
  ];
}

/** The env file and run wrapper where djaploy before 0.2 wrote them, when they are still there. */
function legacyFilesProbe(layout: Layout): FactProbe<string[]> {
  const paths = [
    remotePath.join(layout.sharedDir, "env"),
    remotePath.join(layout.appDir, "bin", "run"),
  ];
  return {
    name: "core:legacy-files",
    argv: shScript('for f; do [ -f "$f" ] && echo "$f"; done; true', ...paths),
    parse: (out) => out.split("\n").filter((p) => paths.includes(p)),
  };
}

/** Root's folders for the app: its config (group app_user, 0750) and djaploy's records. */
export function rootDirs(layout: Layout): string[] {
  return [layout.configDir, layout.recordsDir];
}

function corePackages(host: HostConfig): string[] {
  const py = `python${host.python_version}`;
  // python_compile: Python comes from its sources (modules/core/python.ts), not from Debian.
  const pkgs = host.python_compile ? ["rsync"] : [py, `${py}-venv`, "rsync"];
  const manager = configuredManager(host);
  if (manager === "pip") pkgs.push("python3-pip");
  // A pinned Poetry (and uv) live in their own virtualenvs, made with Debian's python3.
  if (managerTool(host, manager)) pkgs.push("python3-venv");
  else if (manager === "poetry") pkgs.push("python3-poetry");
  // [system] packages: what the app itself needs from Debian.
  for (const p of host.system.packages) if (!pkgs.includes(p)) pkgs.push(p);
  return pkgs;
}

const installPackages: Step = {
  name: "system packages",
  async run(ctx) {
    await aptInstall(ctx);
    // python_compile: the build needs the packages just installed.
    await buildPython.run(ctx);
  },
};

async function aptInstall(ctx: StepContext): Promise<void> {
  const installed = ctx.facts.get(packagesProbe(ctx.requiredPackages));
  const missing = ctx.requiredPackages.filter((p) => !installed.has(p));
  if (missing.length === 0) return;
  ctx.log.info(`installing ${missing.join(", ")}`);
  await ctx.exec.run({ argv: ["apt-get", "update", "-qq"], as: "root" });
  const result = await ctx.exec.run({
    argv: ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing],
    as: "root",
    env: { DEBIAN_FRONTEND: "noninteractive" },
    okCodes: [0, 100],
  });
  if (result.code === 100) {
    const py = `python${ctx.host.python_version}`;
    throw new UserError(
      `Install packages on ${ctx.host.name}: apt-get could not install ${missing.join(", ")}`,
      {
        hint: missing.includes(py)
          ? `python_version = "${ctx.host.python_version}" is not packaged for this server's distribution; choose the version it ships, or build it: python_compile = true.`
          : result.stderr.trim().split("\n").pop(),
      },
    );
  }
  // Facts read before the install are stale for these packages.
  ctx.shared.set(INSTALLED_PACKAGES, missing);
  ctx.changed(`installed ${missing.join(", ")}`);
}

const appUser: Step = {
  name: "app user",
  async run(ctx) {
    if (ctx.facts.get(userProbe(ctx.host.app_user))) return;
    await ctx.exec.run({
      argv: [
        "useradd",
        "--create-home",
        "--shell",
        "/bin/bash",
        "--home-dir",
        ctx.layout.homeDir,
        ctx.host.app_user,
      ],
      as: "root",
    });
    ctx.changed(`created user ${ctx.host.app_user}`);
  },
};

const appDirectories: Step = {
  name: "app directories",
  async run(ctx) {
    const all = [...rootDirs(ctx.layout), ...appDirs(ctx.layout)];
    const existing = ctx.facts.get(dirsProbe("core:dirs", all));
    const missing = all.filter((d) => !existing.has(d));
    if (missing.length === 0) return;
    const u = ctx.host.app_user;
    const [config, records] = rootDirs(ctx.layout);
    const cmds: RemoteCommand[] = [];
    // Root's folders are outside the app user's reach, so root may make them.
    if (missing.includes(config)) {
      cmds.push({
        argv: ["install", "-d", "-o", "root", "-g", u, "-m", "0750", config],
        as: "root",
      });
    }
    if (missing.includes(records)) {
      cmds.push({ argv: ["install", "-d", "-m", "0755", records], as: "root" });
    }
    // The app's own folders are made by the app user: root never creates a
    // path inside a folder the app user can write (it could be a planted link).
    const own = missing.filter((d) => !rootDirs(ctx.layout).includes(d));
    if (own.length) {
      cmds.push({ argv: ["install", "-d", "-m", "0755", ...own], as: u });
      // nginx (www-data) reads static and media files below the app user's home.
      cmds.push({ argv: ["chmod", "o+x", ctx.layout.homeDir], as: u });
    }
    await runChain(ctx.exec, cmds);
    ctx.changed(`created ${missing.length} directories`);
  },
};

const runScript: Step = {
  name: "run wrapper",
  async run(ctx) {
    await putFile(ctx, {
      path: ctx.layout.runScript,
      content: runWrapper(ctx.layout.envFile),
      mode: "0755",
    });
  },
};

/** The env file's variables: [env] plus where static and media files go. */
export function appEnvVars(ctx: StepContext): Map<string, string> {
  const vars = new Map<string, string>([
    // The live static folder (root's link): workers, `manage` and `exec` see what nginx serves.
    // The web units set their own folder (gunicorn --env), collectstatic the release's.
    ["STATIC_ROOT", ctx.layout.liveStatic],
    ["MEDIA_ROOT", ctx.layout.mediaRoot],
  ]);
  for (const [k, v] of ctx.appEnv) vars.set(k, v instanceof Secret ? v.reveal() : v);
  return vars;
}

const appEnvironment: Step = {
  name: "app environment",
  async run(ctx) {
    const hasSecrets = [...ctx.appEnv.values()].some((v) => v instanceof Secret);
    const text = envFile(appEnvVars(ctx));
    // The app user reads its environment (bin/run, manage, exec) but cannot
    // change it: systemd reads EnvironmentFile= as root, before dropping privileges.
    await putFile(ctx, {
      path: ctx.layout.envFile,
      content: hasSecrets ? new Secret(text) : text,
      mode: "0640",
      owner: `root:${ctx.host.app_user}`,
    });
    // Where djaploy before 0.2 kept the env file and the wrapper: the app
    // user's own copies, holding secrets that may since have changed.
    const legacy = ctx.facts.get(legacyFilesProbe(ctx.layout));
    if (legacy.length) {
      await ctx.exec.run({ argv: ["rm", "-f", "--", ...legacy], as: ctx.host.app_user });
      ctx.changed(`removed ${legacy.join(", ")} (moved to ${ctx.layout.configDir})`);
    }
  },
};

/**
 * dependencies.env (and netrc): where pip, uv and the tool installs find the
 * package index, credentials resolved from their secret references. Root's,
 * readable by the app user, who runs the installers; no secret on a command line.
 */
const packageIndex: Step = {
  name: "package index",
  async run(ctx) {
    const d = ctx.host.dependencies;
    let secret = false;
    const reveal = async (value: string | SecretRef, where: string): Promise<string> => {
      if (!isSecretRef(value)) return value;
      if (!ctx.secret) throw new Error(`${where}: no secret resolver in this run`);
      secret = true;
      const url = (await ctx.secret(value, where)).reveal();
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
        throw new UserError(
          `Set ${value.source} to the package index's http:// or https:// URL: ${where} ` +
            "refers to it, and what it holds is no such URL",
        );
      }
      // The password alone is masked too: an installer's message may quote it without the URL.
      const password = decodeURIComponent(new URL(url).password);
      if (password) await ctx.secret(password, where);
      return url;
    };
    const index = d.index_url === undefined
      ? undefined
      : await reveal(d.index_url, "dependencies.index_url");
    const extra: string[] = [];
    for (const [i, u] of d.extra_index_urls.entries()) {
      extra.push(await reveal(u, `dependencies.extra_index_urls[${i}]`));
    }
    const files = indexFiles(index, extra, ctx.layout.netrcFile);
    const text = envFile(files.env).replace("from [env]", "from [dependencies]");
    for (
      const [path, content] of [
        [ctx.layout.dependenciesEnvFile, text],
        [ctx.layout.netrcFile, files.netrc],
      ] as const
    ) {
      await putFile(ctx, {
        path,
        content: secret ? new Secret(content) : content,
        mode: "0640",
        owner: `root:${ctx.host.app_user}`,
      });
    }
  },
};

/**
 * uv (or a pinned Poetry) in its own virtualenv under /opt/djaploy/tools:
 * root's, so the app user runs it but cannot change it; installed once.
 */
const dependencyTools: Step = {
  name: "dependency tools",
  async run(ctx) {
    const tool = managerTool(ctx.host, configuredManager(ctx.host));
    if (!tool || ctx.facts.get(toolsProbe(ctx.host)).has(tool.dir)) return;
    ctx.log.info(`installing ${tool.name} ${tool.version} into ${tool.dir}`);
    await ctx.exec.run({
      argv: shScript(
        INSTALL_TOOL_SH,
        tool.dir,
        tool.name,
        tool.version,
        ctx.layout.dependenciesEnvFile,
      ),
      as: "root",
    });
    ctx.changed(`installed ${tool.name} ${tool.version}`);
  },
};

const deployFiles: Step = {
  name: "deploy files",
  async run(ctx) {
    const dir = ctx.shared.get(DEPLOY_FILES_DIR);
    if (!dir || ctx.deployFiles.size === 0) return;
    const { changed } = await ctx.exec.sync({
      source: dir,
      dest: "/",
      as: "root",
      keepServerModes: true,
    });
    if (changed.length === 0) return;
    ctx.shared.set(DEPLOY_FILES_CHANGED, changed.map((p) => "/" + p));
    ctx.changed(`updated ${changed.length} files from deploy_files`);
  },
};

export default defineModule({
  name: "core",
  description: "App user and directories, Python, dependency tooling, the app's environment",
  packages: (host) => [...corePackages(host), ...python.packages!(host)],
  facts: (host, layout) => [
    userProbe(host.app_user),
    toolsProbe(host),
    dirsProbe("core:dirs", [...rootDirs(layout), ...appDirs(layout)]),
    legacyFilesProbe(layout),
    ...python.facts!(host, layout),
  ],
  files: (host, layout) => [
    layout.envFile,
    layout.runScript,
    layout.dependenciesEnvFile,
    layout.netrcFile,
    ...python.files!(host, layout),
  ],
  steps: {
    configure: [
      installPackages,
      appUser,
      appDirectories,
      runScript,
      appEnvironment,
      packageIndex,
      dependencyTools,
      deployFiles,
    ],
    // appDirectories: a host set up by an earlier djaploy gets root's folders on its next deploy.
    "deploy:configure": [appDirectories, deployFiles, runScript, appEnvironment, packageIndex],
  },
});
