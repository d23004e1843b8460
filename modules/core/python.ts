/**
 * python_compile: builds `python_version` from CPython's sources into
 * /opt/python<version> (for distributions that do not package it) and links
 * /usr/local/bin/python<version>, which the virtualenvs are made with. The
 * archive (python_source_url) is downloaded on the deploying machine and
 * checked against python_source_sha256 before it is sent; the build is
 * marked with that hash, so a second configure does not rebuild. The core
 * module runs these steps when python_compile is true (the core module's
 * own file: python is not a module of its own).
 */
import {
  ConfigError,
  defineModule,
  downloadVerified,
  type HostConfig,
  sha256,
  shipVerified,
  shScript,
  type Step,
} from "../../mod.ts";
import { BUILD_PYTHON_SH } from "../../templates/python_build.ts";

/** Debian packages a CPython build needs for its usual modules (ssl, sqlite3, ctypes, ...). */
export const BUILD_PACKAGES: readonly string[] = [
  "build-essential",
  "pkg-config",
  "xz-utils",
  "libssl-dev",
  "zlib1g-dev",
  "libbz2-dev",
  "liblzma-dev",
  "libsqlite3-dev",
  "libffi-dev",
  "libreadline-dev",
  "libncursesw5-dev",
  "libgdbm-dev",
  "uuid-dev",
];

export function pythonPrefix(host: HostConfig): string {
  return `/opt/python${host.python_version}`;
}

export function pythonMarker(host: HostConfig): string {
  return `${pythonPrefix(host)}/.djaploy-source-sha256`;
}

export function validatePython(host: HostConfig): void {
  if (!host.python_compile) return;
  const missing = (["python_source_url", "python_source_sha256"] as const).filter((k) => !host[k]);
  if (missing.length) {
    throw new ConfigError(
      `Configure python_compile for host ${host.name}: ${missing.join(" and ")} ${
        missing.length > 1 ? "are" : "is"
      } missing`,
      {
        hint: `Set python_source_url to a Python ${host.python_version}.x source archive (e.g. ` +
          `https://www.python.org/ftp/python/${host.python_version}.0/Python-${host.python_version}.0.tgz) ` +
          "and python_source_sha256 to its checksum.",
      },
    );
  }
}

export const buildPython: Step = {
  name: "python from source",
  async run(ctx) {
    const h = ctx.host;
    if (!h.python_compile) return;
    if (ctx.facts.fileHash(pythonMarker(h)) === sha256(`${h.python_source_sha256}\n`)) return;
    const file = await downloadVerified(h.python_source_url!, h.python_source_sha256!, {
      what: `the Python ${h.python_version} sources`,
      signal: ctx.signal,
    });
    const archive = await shipVerified(ctx, file);
    ctx.log.info(`building Python ${h.python_version} from ${file.name} (a few minutes)`);
    const r = await ctx.exec.run({
      argv: shScript(
        BUILD_PYTHON_SH,
        archive,
        file.sha256,
        pythonPrefix(h),
        h.python_version,
        "/usr/local/bin",
      ),
      as: "root",
    });
    ctx.facts.setFileHash(pythonMarker(h), sha256(`${h.python_source_sha256}\n`));
    ctx.changed(`${r.stdout.trim().split("\n").pop() || "built Python"} into ${pythonPrefix(h)}`);
  },
};

/** The python_compile parts the core module adds to its own. */
export default defineModule({
  name: "python",
  description: "python_compile: CPython built from source into /opt, cached",
  packages: (host) => host.python_compile ? BUILD_PACKAGES : [],
  facts: (host) => {
    validatePython(host);
    return [];
  },
  files: (host) => host.python_compile ? [pythonMarker(host)] : [],
  steps: { configure: [buildPython] },
});
