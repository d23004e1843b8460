import { nginxUpstream } from "../templates/nginx_upstream.ts";
import assert from "node:assert/strict";
import { UserError } from "../lib/errors.ts";
import { Secret } from "../lib/secrets/secret.ts";
import { envFile } from "../templates/env_file.ts";
import { gunicornUnit } from "../templates/systemd_unit.ts";
import { nginxSite } from "../templates/nginx_site.ts";
import { runWrapper } from "../templates/scripts.ts";
import type { Responder } from "../lib/exec/recording_executor.ts";
import {
  factsStdout,
  type LoadedProject,
  loadTestProject,
  type ProbeAnswer,
  sha256sumOutput,
  withTempDir,
  writtenFiles,
} from "./helpers/fixtures.ts";
import {
  configuredHostAnswers,
  configurePlan,
  runRecorded,
  unitsShowOutput,
} from "./helpers/plans.ts";
import { appDirs } from "../modules/core/mod.ts";
import { layoutFor } from "../lib/host/layout.ts";

const SECRET_VALUE = "s3cret-django-key-value";
const APP_ENV = new Map<string, string | Secret>([
  ["DEBUG", "0"],
  ["SECRET_KEY", new Secret(SECRET_VALUE)],
]);

async function withProject(fn: (loaded: LoadedProject) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => fn(await loadTestProject(dir, 'project_name = "hello"\n')));
}

async function configure(
  loaded: LoadedProject,
  answers: Record<string, ProbeAnswer>,
  respond?: Responder,
) {
  const plan = await configurePlan(loaded.host, loaded.project.repo_dir);
  return await runRecorded({
    loaded,
    plan,
    facts: factsStdout(answers),
    appEnv: APP_ENV,
    respond,
  });
}

const FACTS = "sudo -n -H -- sh -c '(exec 2>/dev/null…' sh";
const put = (path: string, owner: string, mode: string) =>
  `sudo -n -H -- sh -c 'set -e…' sh ${path} ${owner} ${mode} < [stdin]`;

const RUN = "/etc/djaploy/apps/hello/run";
const ENV = "/etc/djaploy/apps/hello/env";
const SITE = "/etc/nginx/sites-available/hello.conf";
const UPSTREAM = "/etc/nginx/sites-available/hello-upstream.conf";
const UNIT = "/etc/systemd/system/hello.service";
const DEPS_ENV = "/etc/djaploy/apps/hello/dependencies.env";
const NETRC = "/etc/djaploy/apps/hello/netrc";

Deno.test("configure: a fresh host gets packages, the user, directories, files, nginx and the unit", async () => {
  await withProject(async (loaded) => {
    const r = await configure(loaded, {});
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [
      FACTS,
      "sudo -n -H -- apt-get update -qq",
      "sudo -n -H -- env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " +
      "--no-install-recommends python3.11 python3.11-venv rsync python3-pip nginx acl",
      "sudo -n -H -- useradd --create-home --shell /bin/bash --home-dir /home/app app",
      // Root makes only its own folders; the app user makes the app's.
      "sudo -n -H -- install -d -o root -g app -m 0750 /etc/djaploy/apps/hello",
      "sudo -n -H -- install -d -m 0755 /var/lib/djaploy/apps/hello",
      `sudo -n -H -u app -- install -d -m 0755 ${appDirs(layoutFor(loaded.host)).join(" ")}`,
      "sudo -n -H -u app -- chmod o+x /home/app",
      put(RUN, "root:root", "0755"),
      put(ENV, "root:app", "0640"),
      // Where pip and uv find the package index (none configured: PyPI), and Poetry its credentials.
      put(DEPS_ENV, "root:app", "0640"),
      put(NETRC, "root:app", "0640"),
      // nginx connects through /run/djaploy/hello.sock, a link to the live socket, and serves
      // /static/ through root's link to the live static folder (in_place's, until a slot's).
      "sudo -n -H -- sh -c 'set -e…' sh /var/lib/djaploy/apps/hello/static " +
      "/home/app/apps/hello/shared/staticfiles /run/djaploy/hello.sock /run/hello/hello.sock",
      put(UPSTREAM, "root:root", "0644"),
      put(SITE, "root:root", "0644"),
      "sudo -n -H -- ln -sfn /etc/nginx/sites-available/hello.conf /etc/nginx/sites-enabled/hello.conf",
      "sudo -n -H -- rm -f /etc/nginx/sites-enabled/default",
      "sudo -n -H -- install -d -m 0755 /var/www/acme",
      "sudo -n -H -- nginx -t -q",
      "sudo -n -H -- systemctl reload-or-restart nginx",
      "sudo -n -H -u app -- setfacl -m u:www-data:rX,d:u:www-data:rX,d:g::rX,d:o::- " +
      "/home/app/apps/hello/shared/media",
      put(UNIT, "root:root", "0644"),
      "sudo -n -H -- systemctl daemon-reload",
      "sudo -n -H -- systemctl enable --quiet hello",
    ]);
  });
});

Deno.test("configure: the app's directories include every folder a deploy writes to", async () => {
  await withProject((loaded) => {
    const dirs = appDirs(layoutFor(loaded.host));
    for (
      const d of [
        "/home/app/apps",
        "/home/app/apps/hello",
        "/home/app/apps/hello/shared",
        "/home/app/apps/hello/shared/staticfiles",
        "/home/app/apps/hello/shared/media",
        "/home/app/apps/hello/.djaploy",
      ]
    ) assert.ok(dirs.includes(d), d);
    // None of root's: the app user makes these itself.
    for (const d of dirs) assert.ok(d.startsWith("/home/app/"), d);
    // Parents first: install -d makes them in order, each owned by the app user.
    for (const d of dirs) {
      const parent = d.slice(0, d.lastIndexOf("/"));
      if (dirs.includes(parent)) assert.ok(dirs.indexOf(parent) < dirs.indexOf(d), d);
    }
    return Promise.resolve();
  });
});

Deno.test("configure: the files written hold the templates filled in from the host's config", async () => {
  await withProject(async (loaded) => {
    const r = await configure(loaded, {});
    const files = writtenFiles(r.exec.recorded);
    assert.deepEqual([...files.keys()], [RUN, ENV, DEPS_ENV, NETRC, UPSTREAM, SITE, UNIT]);
    assert.equal(files.get(DEPS_ENV), envFile(new Map()).replace("[env]", "[dependencies]"));
    assert.equal(files.get(NETRC), "");
    assert.equal(files.get(UPSTREAM), nginxUpstream("hello", "/run/djaploy/hello.sock"));
    assert.equal(files.get(RUN), runWrapper(ENV));
    assert.equal(
      files.get(ENV),
      envFile(
        new Map([
          ["DEBUG", "0"],
          ["MEDIA_ROOT", "/home/app/apps/hello/shared/media"],
          ["SECRET_KEY", SECRET_VALUE],
          ["STATIC_ROOT", "/var/lib/djaploy/apps/hello/static"],
        ]),
      ),
    );
    assert.equal(
      files.get(SITE),
      nginxSite({
        appName: "hello",
        serverName: "_",
        listen: 80,
        clientMaxBodySize: "10m",
        upstreamFile: UPSTREAM,
        staticRoot: "/var/lib/djaploy/apps/hello/static",
        mediaRoot: "/home/app/apps/hello/shared/media",
        acmeRoot: "/var/www/acme",
        snippetsDir: "/etc/nginx/djaploy.d/hello",
      }),
    );
    assert.equal(
      files.get(UNIT),
      gunicornUnit({
        appName: "hello",
        appUser: "app",
        workingDirectory: "/home/app/apps/hello/code",
        envFile: ENV,
        runtimeDirectory: "hello",
        python: "/home/app/apps/hello/venv/bin/python",
        socketPath: "/run/hello/hello.sock",
        staticRoot: "/home/app/apps/hello/shared/staticfiles",
        wsgiModule: "hello.wsgi:application",
        workers: 2,
        timeout: 30,
        preload: true,
        extraArgs: [],
        liveSocketLink: "/run/djaploy/hello.sock",
        liveStaticLink: "/var/lib/djaploy/apps/hello/static",
        confinement: {
          readable: ["/home/app/apps/hello"],
          writable: ["/home/app/data", "/home/app/apps/hello/shared/media"],
          relaxed: [],
        },
      }),
    );
  });
});

Deno.test("configure: an env file holding a secret goes over stdin as a Secret and is never shown", async () => {
  await withProject(async (loaded) => {
    const r = await configure(loaded, {});
    const envWrite = r.exec.recorded.find((c) => c.command?.argv[4] === ENV)!;
    assert.ok(envWrite.command!.stdin instanceof Secret);
    assert.ok(!envWrite.command!.argv.some((a) => a.includes(SECRET_VALUE)));
    const shown = r.exec.lines().join("\n") + r.out + r.err;
    assert.ok(!shown.includes(SECRET_VALUE));
    // The other files are plain text.
    const runWrite = r.exec.recorded.find((c) => c.command?.argv[4] === RUN)!;
    assert.equal(typeof runWrite.command!.stdin, "string");
  });
});

Deno.test("configure: a fully configured host gets no command besides reading its state", async () => {
  await withProject(async (loaded) => {
    const answers = await configuredHostAnswers(loaded, APP_ENV);
    const r = await configure(loaded, answers);
    assert.equal(r.result.ok, true, String(r.result.error));
    assert.deepEqual(r.exec.lines(), [FACTS]);
    assert.equal(r.exec.stats.commands, 1);
    assert.deepEqual(r.result.steps.filter((s) => s.changes.length), []);
    assert.doesNotMatch(r.out, /changed/);
  });
});

Deno.test("configure: a changed [env] value rewrites only the env file", async () => {
  await withProject(async (loaded) => {
    const answers = await configuredHostAnswers(
      loaded,
      new Map<string, string | Secret>([["DEBUG", "1"], ["SECRET_KEY", new Secret(SECRET_VALUE)]]),
    );
    const r = await configure(loaded, answers);
    assert.deepEqual(r.exec.lines(), [FACTS, put(ENV, "root:app", "0640")]);
    assert.deepEqual(
      r.result.steps.filter((s) => s.changes.length).map((s) => [s.name, s.changes]),
      [["app environment", [`wrote ${ENV}`]]],
    );
  });
});

Deno.test("configure: an edited nginx site is rewritten, tested and reloaded", async () => {
  await withProject(async (loaded) => {
    const answers = await configuredHostAnswers(loaded, APP_ENV);
    const r = await configure(loaded, {
      ...answers,
      "file-hashes": {
        out: answers["file-hashes"].out.split("\n")
          .filter((l) => !l.endsWith(SITE)).join("\n") +
          sha256sumOutput(new Map([[SITE, "edited by hand\n"]])),
      },
    });
    assert.deepEqual(r.exec.lines(), [
      FACTS,
      put(SITE, "root:root", "0644"),
      "sudo -n -H -- nginx -t -q",
      "sudo -n -H -- systemctl reload-or-restart nginx",
    ]);
  });
});

Deno.test("configure: an nginx config that fails nginx -t is not loaded", async () => {
  await withProject(async (loaded) => {
    const r = await configure(
      loaded,
      {},
      (cmd) =>
        cmd.argv[0] === "nginx"
          ? { code: 1, stderr: 'nginx: [emerg] unknown directive "bad" in /etc/nginx/x.conf:1\n' }
          : undefined,
    );
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "nginx site");
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.equal(err.message, "Fix the nginx configuration on web1: nginx -t failed");
    assert.equal(err.hint, 'nginx: [emerg] unknown directive "bad" in /etc/nginx/x.conf:1');
    const lines = r.exec.lines();
    assert.equal(lines.at(-1), "sudo -n -H -- nginx -t -q");
    assert.ok(!lines.some((l) => l.includes("reload-or-restart")));
    assert.ok(!lines.some((l) => l.includes(UNIT)), "the steps after nginx did not run");
  });
});

Deno.test("configure: a stopped, disabled nginx and a disabled unit are started and enabled", async () => {
  await withProject(async (loaded) => {
    const answers = await configuredHostAnswers(loaded, APP_ENV);
    const r = await configure(loaded, {
      ...answers,
      "nginx": { out: "link=/etc/nginx/sites-available/hello.conf\nacme=1\n" },
      "units": { out: unitsShowOutput({ hello: "disabled inactive" }) },
    });
    assert.deepEqual(r.exec.lines(), [
      FACTS,
      "sudo -n -H -- nginx -t -q",
      "sudo -n -H -- systemctl reload-or-restart nginx",
      "sudo -n -H -- systemctl enable --quiet nginx",
      "sudo -n -H -- systemctl enable --quiet hello",
    ]);
  });
});

Deno.test("configure: apt-get failing on the Python package explains python_version", async () => {
  await withProject(async (loaded) => {
    const r = await configure(
      loaded,
      {},
      (cmd) =>
        cmd.argv.includes("install") && cmd.argv.includes("apt-get")
          ? { code: 100, stderr: "E: Unable to locate package python3.11\n" }
          : undefined,
    );
    assert.equal(r.result.ok, false);
    assert.equal(r.result.failedStep, "system packages");
    const err = r.result.error;
    assert.ok(err instanceof UserError);
    assert.equal(
      err.message,
      "Install packages on web1: apt-get could not install python3.11, python3.11-venv, rsync, python3-pip, nginx, acl",
    );
    assert.match(err.hint ?? "", /^python_version = "3\.11" is not packaged/);
    assert.equal(r.exec.lines().length, 3);
  });
});
