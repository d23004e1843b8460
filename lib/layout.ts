/**
 * Where everything lives on a server, derived from a host's config. Every
 * remote path in djaploy comes from here.
 */
import { posix } from "node:path";
import type { HostConfig } from "./config/types.ts";

export interface Layout {
  /** /home/{app_user} */
  readonly homeDir: string;
  /** /home/{app_user}/data: the app's own data (SQLite databases), kept across deploys. */
  readonly dataDir: string;
  /** /home/{app_user}/apps/{app_name} */
  readonly appDir: string;
  /** Survives releases: virtualenvs, static files, media, the env file. */
  readonly sharedDir: string;
  /** The app's environment ([env]), 0600, owned by app_user. */
  readonly envFile: string;
  readonly staticRoot: string;
  readonly mediaRoot: string;
  /** Where the code runs from (in_place: code/; zero_downtime: current; bluegreen: a slot). */
  readonly codeDir: string;
  /** A link to the virtualenv the code runs with. */
  readonly venvLink: string;
  /** djaploy's own records on the host (state.json). */
  readonly stateDir: string;
  readonly stateFile: string;
  /** A wrapper that loads the env file and runs its arguments: bin/run. */
  readonly runScript: string;
  /** /run/{app_name}: the gunicorn socket's folder, made by systemd. */
  readonly runtimeDir: string;
  readonly socketPath: string;
  /** The gunicorn unit, `{app_name}.service`. */
  readonly unitName: string;
  readonly unitPath: string;
  readonly nginxSitePath: string;
  readonly nginxEnabledPath: string;
  /** Snippets the app's server block includes: /etc/nginx/djaploy.d/{app_name}. */
  readonly nginxSnippetsDir: string;
  /** The directory manage.py is in, inside codeDir. */
  readonly manageDir: string;
  readonly manageFile: string;
}

export function venvDir(layout: Layout, lockHash: string, pythonVersion: string): string {
  return posix.join(layout.sharedDir, `venv-${lockHash}-py${pythonVersion}`);
}

export function layoutFor(host: HostConfig): Layout {
  const homeDir = posix.join("/home", host.app_user);
  const appDir = posix.join(homeDir, "apps", host.app_name);
  const sharedDir = posix.join(appDir, "shared");
  const stateDir = posix.join(appDir, ".djaploy");
  const codeDir = posix.join(appDir, "code");
  const manageRel = posix.normalize(host.manage_py);
  const runtimeDir = posix.join("/run", host.app_name);
  return {
    homeDir,
    dataDir: posix.join(homeDir, "data"),
    appDir,
    sharedDir,
    envFile: posix.join(sharedDir, "env"),
    staticRoot: posix.join(sharedDir, "staticfiles"),
    mediaRoot: posix.join(sharedDir, "media"),
    codeDir,
    venvLink: posix.join(appDir, "venv"),
    stateDir,
    stateFile: posix.join(stateDir, "state.json"),
    runScript: posix.join(appDir, "bin", "run"),
    runtimeDir,
    socketPath: posix.join(runtimeDir, `${host.app_name}.sock`),
    unitName: `${host.app_name}.service`,
    unitPath: `/etc/systemd/system/${host.app_name}.service`,
    nginxSitePath: `/etc/nginx/sites-available/${host.app_name}.conf`,
    nginxEnabledPath: `/etc/nginx/sites-enabled/${host.app_name}.conf`,
    nginxSnippetsDir: `/etc/nginx/djaploy.d/${host.app_name}`,
    manageDir: posix.join(codeDir, posix.dirname(manageRel)),
    manageFile: posix.basename(manageRel),
  };
}
