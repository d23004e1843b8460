/**
 * Where everything lives on a server, derived from a host's config. Every
 * remote path in djaploy comes from here.
 */
import * as remotePath from "../remote_path.ts";
import type { HostConfig } from "../config/types.ts";
import { RunTable } from "../run_table.ts";

/** Where everything of an app lives on its server, derived from the host's config. */
export interface Layout {
  /** /home/{app_user} */
  readonly homeDir: string;
  /** /home/{app_user}/data: the app's own data (SQLite databases), kept across deploys. */
  readonly dataDir: string;
  /** /home/{app_user}/apps/{app_name} */
  readonly appDir: string;
  /** Survives releases: virtualenvs, static files, media. */
  readonly sharedDir: string;
  /**
   * /etc/djaploy/apps/{app_name}: root's, group app_user, 0750. What root
   * writes for the app (the env file, the run wrapper) lives here, where the
   * app user can read but not write.
   */
  readonly configDir: string;
  /** The app's environment ([env]): root:{app_user} 0640 in configDir. */
  readonly envFile: string;
  /**
   * shared/staticfiles: in_place's STATIC_ROOT, collectstatic's output (and,
   * before static files were per slot, every strategy's). The slot
   * strategies collect into their slot's own folder (SlotLayout.staticRoot).
   */
  readonly staticRoot: string;
  /**
   * {recordsDir}/static: root's link to the live static folder (in_place's
   * staticRoot or the live slot's). nginx serves /static/ through it, and the
   * env file's STATIC_ROOT names it (workers, `manage`, `exec`); it moves
   * together with traffic, in the same root command.
   */
  readonly liveStatic: string;
  /** MEDIA_ROOT: uploaded files, shared by every release. */
  readonly mediaRoot: string;
  /** Where the code runs from (in_place: code/; zero_downtime: current; bluegreen: a slot). */
  readonly codeDir: string;
  /** A link to the virtualenv the code runs with. */
  readonly venvLink: string;
  /**
   * {appDir}/.djaploy: the app user's own working folder for djaploy's jobs
   * that run as the app user (backup staging). Root never writes here.
   */
  readonly stateDir: string;
  /**
   * /var/lib/djaploy/apps/{app_name}: root's, 0755. djaploy's records that
   * root reads and decides on (state.json, active-slot, history.jsonl); the
   * app user cannot forge them.
   */
  readonly recordsDir: string;
  /** state.json in recordsDir: the live release and, for slot strategies, the slots. */
  readonly stateFile: string;
  /** Where releases before the records moved to recordsDir kept state.json (app-owned). */
  readonly legacyStateFile: string;
  /** Slot strategies: the live slot's name, read at boot by `{app}-slots.service`. */
  readonly activeSlotFile: string;
  /** Slot strategies: the unit that starts the active slot at boot, `{app}-slots.service`. */
  readonly slotsBootUnit: string;
  /**
   * {configDir}/dependencies.env: where the installers find the package
   * index ([dependencies] index_url), credentials included; root's, the app
   * user reads it (0640), so no secret is ever on a command line.
   */
  readonly dependenciesEnvFile: string;
  /** {configDir}/netrc: the index credentials for Poetry (NETRC in dependencies.env). */
  readonly netrcFile: string;
  /** A wrapper that loads the env file and runs its arguments: {configDir}/run. */
  readonly runScript: string;
  /** /run/{app_name}: the gunicorn socket's folder, made by systemd. */
  readonly runtimeDir: string;
  /** The gunicorn socket nginx proxies to. */
  readonly socketPath: string;
  /** The gunicorn unit, `{app_name}.service`. */
  readonly unitName: string;
  /** The gunicorn unit's file in /etc/systemd/system. */
  readonly unitPath: string;
  /** The app's nginx site in sites-available. */
  readonly nginxSitePath: string;
  /** Its link in sites-enabled. */
  readonly nginxEnabledPath: string;
  /** Snippets the app's server block includes: /etc/nginx/djaploy.d/{app_name}. */
  readonly nginxSnippetsDir: string;
  /** zero_downtime: one folder per release, and `current` linking the live one. */
  readonly releasesDir: string;
  /** zero_downtime: the link to the live release. */
  readonly currentLink: string;
  /** Slot strategies: slots/blue and slots/green (folders, or links to releases). */
  readonly slotsDir: string;
  /** Slot strategies: the nginx upstream file; it names liveSocket. */
  readonly upstreamFile: string;
  /**
   * Slot strategies: /run/djaploy/{app}.sock, a symlink to the live slot's
   * socket. The kernel follows it on every connect, so moving it moves
   * traffic without reloading nginx.
   */
  readonly liveSocket: string;
  /** manage.py's folder relative to the code's root ("." when at the root). */
  readonly manageRel: string;
  /** The directory manage.py is in, inside codeDir. */
  readonly manageDir: string;
  /** manage.py's file name, in manageDir. */
  readonly manageFile: string;
}

export function venvDir(layout: Layout, lockHash: string, pythonVersion: string): string {
  return remotePath.join(layout.sharedDir, `venv-${lockHash}-py${pythonVersion}`);
}

/** Where djaploy installs the tools it runs (uv, a pinned Poetry): root's, outside every app. */
export const TOOLS_DIR = "/opt/djaploy/tools";

/** A tool's own virtualenv: /opt/djaploy/tools/<tool>-<version>. */
export function toolDir(tool: string, version: string): string {
  return remotePath.join(TOOLS_DIR, `${tool}-${version}`);
}

/**
 * Layouts made so far, by what they are derived from: every step of every host asks for its
 * layout, and with many hosts rebuilding it each time showed in djaploy's own CPU.
 */
const layouts = new RunTable<string, Layout>(64);

/** All a layout is derived from: the cache's key, and all makeLayout may read (the compiler checks). */
type LayoutInputs = Pick<HostConfig, "app_user" | "app_name" | "manage_py">;

/** The host's paths and names, derived from its config (app_user, app_name, manage_py). */
export function layoutFor(host: HostConfig): Layout {
  const key = `${host.app_user}\0${host.app_name}\0${host.manage_py}`;
  return layouts.get(key, () => Object.freeze(makeLayout(host)));
}

function makeLayout(host: LayoutInputs): Layout {
  const homeDir = remotePath.join("/home", host.app_user);
  const appDir = remotePath.join(homeDir, "apps", host.app_name);
  const sharedDir = remotePath.join(appDir, "shared");
  const stateDir = remotePath.join(appDir, ".djaploy");
  const configDir = remotePath.join("/etc/djaploy/apps", host.app_name);
  const recordsDir = remotePath.join("/var/lib/djaploy/apps", host.app_name);
  const codeDir = remotePath.join(appDir, "code");
  const manageRel = remotePath.normalize(host.manage_py);
  const runtimeDir = remotePath.join("/run", host.app_name);
  return {
    homeDir,
    dataDir: remotePath.join(homeDir, "data"),
    appDir,
    sharedDir,
    configDir,
    envFile: remotePath.join(configDir, "env"),
    staticRoot: remotePath.join(sharedDir, "staticfiles"),
    liveStatic: remotePath.join(recordsDir, "static"),
    mediaRoot: remotePath.join(sharedDir, "media"),
    codeDir,
    venvLink: remotePath.join(appDir, "venv"),
    stateDir,
    recordsDir,
    stateFile: remotePath.join(recordsDir, "state.json"),
    legacyStateFile: remotePath.join(stateDir, "state.json"),
    activeSlotFile: remotePath.join(recordsDir, "active-slot"),
    slotsBootUnit: `${host.app_name}-slots.service`,
    dependenciesEnvFile: remotePath.join(configDir, "dependencies.env"),
    netrcFile: remotePath.join(configDir, "netrc"),
    runScript: remotePath.join(configDir, "run"),
    runtimeDir,
    socketPath: remotePath.join(runtimeDir, `${host.app_name}.sock`),
    unitName: `${host.app_name}.service`,
    unitPath: `/etc/systemd/system/${host.app_name}.service`,
    nginxSitePath: `/etc/nginx/sites-available/${host.app_name}.conf`,
    nginxEnabledPath: `/etc/nginx/sites-enabled/${host.app_name}.conf`,
    nginxSnippetsDir: `/etc/nginx/djaploy.d/${host.app_name}`,
    releasesDir: remotePath.join(appDir, "releases"),
    currentLink: remotePath.join(appDir, "current"),
    slotsDir: remotePath.join(appDir, "slots"),
    upstreamFile: `/etc/nginx/sites-available/${host.app_name}-upstream.conf`,
    liveSocket: `/run/djaploy/${host.app_name}.sock`,
    manageRel: remotePath.dirname(manageRel),
    manageDir: remotePath.join(codeDir, remotePath.dirname(manageRel)),
    manageFile: remotePath.basename(manageRel),
  };
}

/** A slot of the slot strategies (zero_downtime, bluegreen). */
export type Slot = "blue" | "green";
export const SLOTS: readonly Slot[] = ["blue", "green"];

export function otherSlot(slot: Slot): Slot {
  return slot === "blue" ? "green" : "blue";
}

/** Where one slot of the slot strategies lives and runs. */
export interface SlotLayout {
  /** Which slot: blue or green. */
  readonly slot: Slot;
  /** slots/{slot}: a folder (bluegreen) or a link to a release (zero_downtime). */
  readonly dir: string;
  /** `{app}-{slot}.service` */
  readonly unitName: string;
  /** /etc/systemd/system/{app}-{slot}.service */
  readonly unitPath: string;
  /** /run/{app}-{slot} */
  readonly runtimeDir: string;
  /** /run/{app}-{slot}/{app}.sock */
  readonly socketPath: string;
  /**
   * shared/staticfiles-{slot}: the slot's STATIC_ROOT (its unit's, and
   * collectstatic's when a deploy stages there). A deploy writes only the idle
   * slot's folder, so the live release's files and manifest never change
   * under it; nginx follows the live one (Layout.liveStatic).
   */
  readonly staticRoot: string;
}

/**
 * Slot layouts made so far, by what they are derived from: the slot strategies' steps ask for them
 * many times per host, and each made them again with node:path's joins, which a fleet deploy keeps
 * among its hottest code.
 */
const slotLayouts = new RunTable<string, SlotLayout>(64);

/** The folders, unit and socket of `slot` of the host's app. */
export function slotLayout(host: HostConfig, layout: Layout, slot: Slot): SlotLayout {
  const key = `${host.app_name}\0${layout.slotsDir}\0${layout.sharedDir}\0${slot}`;
  return slotLayouts.get(key, () => {
    const unitName = `${host.app_name}-${slot}.service`;
    const runtimeDir = `/run/${host.app_name}-${slot}`;
    return Object.freeze({
      slot,
      dir: remotePath.join(layout.slotsDir, slot),
      unitName,
      unitPath: `/etc/systemd/system/${unitName}`,
      runtimeDir,
      socketPath: remotePath.join(runtimeDir, `${host.app_name}.sock`),
      staticRoot: remotePath.join(layout.sharedDir, `staticfiles-${slot}`),
    });
  });
}

/**
 * Folders the app user can write: its home (code, data, media, releases) and
 * the runtime folders of its units, besides the world-writable ones. Root
 * never creates, truncates, chowns, chmods, moves into or runs a path in
 * them (docs/how-it-works.md, "Who may act on what").
 */
export function appWritableRoots(host: HostConfig, layout: Layout): string[] {
  return [
    layout.homeDir,
    layout.runtimeDir,
    ...SLOTS.map((slot) => `${layout.runtimeDir}-${slot}`),
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    ...(host.app_user === "root" ? ["/"] : []),
  ];
}

/** Whether the app user may be able to write `path` or replace one of its folders. */
export function isAppWritable(host: HostConfig, layout: Layout, path: string): boolean {
  const p = remotePath.normalize(path);
  return appWritableRoots(host, layout).some((root) =>
    root === "/" || p === root || p.startsWith(root + "/")
  );
}
