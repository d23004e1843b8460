/**
 * core: the app user, its directories, Python with venv support, the
 * dependency tooling, the app's environment file and infra/deploy_files.
 */
import { posix } from "node:path";
import { defineModule, type Step, type StepContext } from "../../lib/module.ts";
import { dirsProbe, packagesProbe, userProbe } from "../../lib/probes.ts";
import { putFile } from "../../lib/remote_ops.ts";
import { envFile } from "../../templates/env_file.ts";
import { runWrapper } from "../../templates/scripts.ts";
import { Secret } from "../../lib/secret.ts";
import type { HostConfig } from "../../lib/config/types.ts";
import type { Layout } from "../../lib/layout.ts";
import { UserError } from "../../lib/errors.ts";
import python, { buildPython } from "../python/mod.ts";

export function appDirs(layout: Layout): string[] {
  return [
    layout.dataDir,
    posix.dirname(layout.appDir),
    layout.appDir,
    layout.sharedDir,
    layout.staticRoot,
    layout.mediaRoot,
    layout.stateDir,
    posix.dirname(layout.runScript),
    layout.releasesDir,
    layout.slotsDir,
  ];
}

function corePackages(host: HostConfig): string[] {
  const py = `python${host.python_version}`;
  // python_compile: Python comes from its sources (modules/python), not from Debian.
  const pkgs = host.python_compile ? ["rsync"] : [py, `${py}-venv`, "rsync"];
  const manager = host.dependencies.manager ?? "pip";
  if (manager === "pip") pkgs.push("python3-pip");
  if (manager === "poetry") pkgs.push("python3-poetry");
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
  ctx.notes.set("installedPackages", missing);
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
    const existing = ctx.facts.get(dirsProbe("core:dirs", appDirs(ctx.layout)));
    const missing = appDirs(ctx.layout).filter((d) => !existing.has(d));
    if (missing.length === 0) return;
    const u = ctx.host.app_user;
    await ctx.exec.run({
      argv: ["install", "-d", "-o", u, "-g", u, "-m", "0755", ...missing],
      as: "root",
    });
    // nginx (www-data) reads static and media files below the app user's home.
    await ctx.exec.run({ argv: ["chmod", "o+x", ctx.layout.homeDir], as: "root" });
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
      owner: `${ctx.host.app_user}:${ctx.host.app_user}`,
    });
  },
};

/** The env file's variables: [env] plus where static and media files go. */
export function appEnvVars(ctx: StepContext): Map<string, string> {
  const vars = new Map<string, string>([
    ["STATIC_ROOT", ctx.layout.staticRoot],
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
    await putFile(ctx, {
      path: ctx.layout.envFile,
      content: hasSecrets ? new Secret(text) : text,
      mode: "0600",
      owner: `${ctx.host.app_user}:${ctx.host.app_user}`,
    });
  },
};

const deployFiles: Step = {
  name: "deploy files",
  async run(ctx) {
    const dir = ctx.notes.get("deployFilesDir") as string | undefined;
    if (!dir || ctx.deployFiles.size === 0) return;
    const { changed } = await ctx.exec.sync({
      source: dir,
      dest: "/",
      as: "root",
      keepServerModes: true,
    });
    if (changed.length === 0) return;
    ctx.notes.set("deployFilesChanged", changed.map((p) => "/" + p));
    ctx.changed(`updated ${changed.length} files from deploy_files`);
  },
};

export default defineModule({
  name: "core",
  description: "App user and directories, Python, dependency tooling, the app's environment",
  packages: (host) => [...corePackages(host), ...python.packages!(host)],
  facts: (host, layout) => [
    userProbe(host.app_user),
    dirsProbe("core:dirs", appDirs(layout)),
    ...python.facts!(host, layout),
  ],
  files: (host, layout) => [layout.envFile, layout.runScript, ...python.files!(host, layout)],
  steps: {
    configure: [installPackages, appUser, appDirectories, runScript, appEnvironment, deployFiles],
    "deploy:configure": [deployFiles, runScript, appEnvironment],
  },
});
