/**
 * `djaploy init` on a copy of examples/hello without its infra/ folder, and
 * on made-up projects: what it finds, what it writes (valid config, with
 * comments), that it never overwrites, and the Django app of
 * --django-commands run by Debian's Python and Django.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";
import { loadEnvironment, loadProject } from "../lib/config/load.ts";
import {
  detectDjangoProject,
  parseSettingsEnv,
  parseSettingsModule,
  parseWsgiApplication,
  projectNameFrom,
} from "../lib/django/project.ts";
import { DJANGO_COMMANDS } from "../templates/django_commands.ts";
import { withTempDir, writeFiles } from "./helpers/fixtures.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = "/usr/bin/python3";

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal: false,
  });
  return { code, out: out.join(""), err: err.join("") };
}

/** examples/hello, without infra/ and caches, copied into `dir`. */
async function copyHello(dir: string, from = join(REPO, "examples/hello")): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name === "infra" || e.name === "__pycache__") continue;
    if (e.isDirectory) await copyHello(join(dir, e.name), join(from, e.name));
    else await Deno.copyFile(join(from, e.name), join(dir, e.name));
  }
}

async function withHello(fn: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "hello");
    await copyHello(dir);
    await fn(dir);
  });
}

Deno.test("init: parsers read manage.py and settings", () => {
  assert.equal(
    parseSettingsModule('os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conf.settings.prod")'),
    "conf.settings.prod",
  );
  assert.equal(parseWsgiApplication("WSGI_APPLICATION = 'conf.wsgi.app'\n"), "conf.wsgi:app");
  assert.deepEqual(
    parseSettingsEnv(
      'A = os.environ.get("A")\nB = os.environ["B"]\nC = os.getenv("C", "x")\nD = env("D")\nE = env.bool("E")\nA2 = os.environ.get("A")',
    ),
    ["A", "B", "C", "D", "E"],
  );
  assert.equal(projectNameFrom("My_Site"), "my_site");
  assert.equal(projectNameFrom("2fast"), "fast");
});

Deno.test("init: on examples/hello writes a config djaploy loads and verify passes", async () => {
  await withHello(async (dir) => {
    const r = await cli(["init", "--dir", dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^found manage\.py, settings hello\.settings, WSGI hello\.wsgi:application, requirements\.txt \(pip\)$/m,
    );
    for (
      const f of [
        "infra/djaploy.toml",
        "infra/inventory/staging.toml",
        "infra/inventory/production.toml",
      ]
    ) {
      assert.match(r.out, new RegExp(`^wrote ${f}$`, "m"));
    }
    assert.match(r.out, /^added \.djaploy\/ to \.gitignore$/m);
    assert.equal(r.err, "", "hello's settings read everything from the environment: no notes");
    assert.match(r.out, /^health check: \/health\/ \(found in your urls\.py\)/m);
    assert.match(r.out, /^ {2}3\. Commit infra\/: git add -A && git commit/m);

    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    assert.match(toml, /^project_name = "hello"$/m);
    assert.match(toml, /^manage_py = "manage\.py"$/m);
    assert.match(toml, /^# Found requirements\.txt\.\nmanager = "pip"$/m);
    assert.match(toml, /^# From WSGI_APPLICATION\.\nwsgi_module = "hello\.wsgi:application"$/m);
    assert.match(toml, /^DJANGO_SETTINGS_MODULE = "hello\.settings"$/m);
    assert.match(toml, /^SECRET_KEY = "env:HELLO_SECRET_KEY"$/m);
    assert.match(toml, /^DATABASE_PATH = "\/home\/app\/data\/db\.sqlite3"$/m);
    assert.match(toml, /^\[health_check\]\n.*\npath = "\/health\/"$/m);
    const staging = await Deno.readTextFile(join(dir, "infra/inventory/staging.toml"));
    assert.match(
      staging,
      /^\[defaults\.env\]\n(#.*\n)+ALLOWED_HOSTS = "web-1\.staging\.example\.com"$/m,
    );
    assert.doesNotMatch(toml, /STATIC_ROOT =/, "djaploy sets STATIC_ROOT itself");

    const config = join(dir, "infra/djaploy.toml");
    const project = await loadProject({ configPath: config, cwd: dir });
    assert.deepEqual(project.environments, ["production", "staging"]);
    for (const env of project.environments) {
      const loaded = await loadEnvironment(project, env);
      assert.equal(loaded.hosts[0].name, "web-1");
      assert.equal(loaded.hosts[0].gunicorn.wsgi_module, "hello.wsgi:application");
      assert.equal(loaded.hosts[0].dependencies.manager, "pip");
    }
    const verify = await cli(["verify", "--config", config]);
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, /config: .*djaploy\.toml: ok \(environments: production, staging\)/);
    assert.match(await Deno.readTextFile(join(dir, ".gitignore")), /^\.djaploy\/$/m);
  });
});

Deno.test("init: never overwrites; says what exists; the .gitignore line is added once", async () => {
  await withHello(async (dir) => {
    await writeFiles(dir, { "infra/inventory/production.toml": "# mine\n" });
    const first = await cli(["init", "--dir", dir]);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /^exists, left alone: infra\/inventory\/production\.toml$/m);
    assert.equal(await Deno.readTextFile(join(dir, "infra/inventory/production.toml")), "# mine\n");
    const before = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    const second = await cli(["init", "--dir", dir]);
    assert.equal(second.code, 0);
    assert.equal((second.out.match(/^exists, left alone: /gm) ?? []).length, 3);
    assert.doesNotMatch(second.out, /^wrote /m);
    assert.doesNotMatch(second.out, /\.gitignore/);
    assert.equal(await Deno.readTextFile(join(dir, "infra/djaploy.toml")), before);
    const ignore = await Deno.readTextFile(join(dir, ".gitignore"));
    assert.equal((ignore.match(/^\.djaploy\/$/gm) ?? []).length, 1);
    assert.ok(ignore.startsWith("db.sqlite3\n"), "the existing lines stay");
  });
});

Deno.test("init: a project in src/, poetry, settings package; notes what the settings should change", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "poetry.lock": "",
      ".python-version": "3.12.1\n",
      "src/manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "Shop.settings")\n',
      "src/Shop/__init__.py": "",
      "src/Shop/wsgi.py": "application = None\n",
      "src/Shop/settings/__init__.py":
        'STATIC_URL = "/assets/"\nSTATIC_ROOT = BASE_DIR / "static"\nMEDIA_ROOT = os.environ["MEDIA_ROOT"]\nSENTRY_DSN = os.environ.get("SENTRY_DSN")\n',
      "venv/lib/manage.py": "",
    });
    const p = await detectDjangoProject(dir);
    assert.equal(p.managePy, "src/manage.py");
    assert.equal(p.projectName, "shop");
    assert.equal(p.settingsFile, "src/Shop/settings/__init__.py");
    assert.equal(p.wsgiModule, "Shop.wsgi:application");
    assert.equal(p.wsgiSource, "Shop/wsgi.py");
    assert.equal(p.dependencyManager, "poetry");
    assert.equal(p.pythonVersion, "3.12");
    const r = await cli(["init", "--dir", dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /^warning: src\/Shop\/settings\/__init__\.py: Import os, which the changes below use\. Insert before line 1:\n {4}import os$/m,
    );
    assert.match(
      r.err,
      /^warning: src\/Shop\/settings\/__init__\.py:2: Read STATIC_ROOT from the environment: .* Replace line 2 with:\n {4}STATIC_ROOT = os\.environ\.get\("STATIC_ROOT", BASE_DIR \/ "static"\)$/m,
    );
    assert.match(
      r.out,
      /^python_version = "3\.12" from \.python-version: Debian 12 packages 3\.11/m,
    );
    assert.match(
      r.out,
      /^health check: no health URL in your urls\.py; .*probe "\/" and accept 2xx and 3xx/m,
    );
    assert.match(
      r.err,
      /^warning: STATIC_URL is \/assets\/, but nginx serves static files at \/static\/\.$/m,
    );
    assert.doesNotMatch(r.err, /MEDIA_ROOT from/);
    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    assert.match(toml, /^# SENTRY_DSN = "env:SHOP_SENTRY_DSN"$/m);
    assert.match(toml, /^python_version = "3\.12"$/m);
    const project = await loadProject({ configPath: join(dir, "infra/djaploy.toml"), cwd: dir });
    const env = await loadEnvironment(project, "staging");
    assert.equal(env.hosts[0].manage_py, "src/manage.py");
    assert.equal(env.hosts[0].dependencies.manager, "poetry");
  });
});

Deno.test("init: without a manage.py it says where it looked and exits 1", async () => {
  await withTempDir(async (dir) => {
    const r = await cli(["init", "--dir", dir]);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      `error: Run djaploy init in a Django project: no manage.py in ${dir} or the folders below it\n` +
        "hint: cd to your project's repository root, or give it with --dir PATH\n",
    );
  });
});

const hasDjango = await new Deno.Command(PYTHON, { args: ["-c", "import django"] }).output()
  .then((o) => o.success, () => false);

async function python(dir: string, args: string[], env: Record<string, string>) {
  const base = Deno.env.toObject();
  delete base.DJAPLOY_BIN;
  const out = await new Deno.Command(PYTHON, {
    args: ["manage.py", ...args],
    cwd: dir,
    // No djaploy on this PATH: only DJAPLOY_BIN finds it.
    env: { ...base, PATH: "/usr/bin:/bin", DJANGO_DEBUG: "1", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The command line that runs djaploy from this checkout (what DJAPLOY_BIN names). */
export function djaployBin(): string {
  return [
    Deno.execPath(),
    "run",
    "-q",
    "--config",
    join(REPO, "deno.json"),
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-net",
    "--allow-sys",
    "--allow-run",
    join(REPO, "cli.ts"),
  ].join(" ");
}

Deno.test({
  name:
    "init --django-commands: manage.py deploy ... runs djaploy with the same arguments and its exit code",
  ignore: !hasDjango,
  fn: async () => {
    await withHello(async (dir) => {
      const r = await cli(["init", "--dir", dir, "--django-commands"]);
      assert.equal(r.code, 0, r.err);
      for (const name of DJANGO_COMMANDS) {
        assert.match(
          r.out,
          new RegExp(`^wrote djaploy_commands/management/commands/${name}\\.py$`, "m"),
        );
      }
      assert.match(r.out, /Add "djaploy_commands" to INSTALLED_APPS/);
      const settings = join(dir, "hello/settings.py");
      await Deno.writeTextFile(
        settings,
        (await Deno.readTextFile(settings)) + '\nINSTALLED_APPS += ["djaploy_commands"]\n',
      );

      // A stand-in djaploy that shows what it got and exits 3.
      const fake = join(dir, "fake-djaploy");
      await Deno.writeTextFile(fake, '#!/bin/sh\nprintf "<%s>" "$@"; echo; exit 3\n');
      await Deno.chmod(fake, 0o755);
      const passed = await python(dir, ["deploy", "--env", "production", "--latest", "-v"], {
        DJAPLOY_BIN: fake,
      });
      assert.equal(passed.code, 3, passed.stderr);
      assert.equal(passed.stdout, "<deploy><--env><production><--latest><-v>\n");
      const certs = await python(dir, ["sync_certs", "--env", "staging"], { DJAPLOY_BIN: fake });
      assert.equal(certs.stdout, "<sync_certs><--env><staging>\n");

      const missing = await python(dir, ["status", "--env", "production"], {});
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Install djaploy: it is not on PATH\. Or set DJAPLOY_BIN/);

      // The real djaploy: verify passes, an unknown environment exits 2.
      const verify = await python(dir, ["verify"], { DJAPLOY_BIN: djaployBin() });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /config: .*infra\/djaploy\.toml: ok/);
      const dry = await python(dir, ["deploy", "--env", "nowhere", "--dry-run"], {
        DJAPLOY_BIN: djaployBin(),
      });
      assert.equal(dry.code, 2, dry.stdout + dry.stderr);
      assert.match(dry.stderr, /nowhere/);
    });
  },
});

Deno.test("init: a Procfile's non-web lines become [processes]; release: [release] command", async () => {
  await withHello(async (dir) => {
    await writeFiles(dir, {
      Procfile: [
        "web: gunicorn hello.wsgi --log-file -",
        "worker: celery -A hello worker -l info",
        "rq_high: python manage.py rqworker high",
        "Beat: celery -A hello beat",
        "blue: python manage.py slots",
        "9lives: python cat.py",
        "release: python manage.py migrate --noinput && python manage.py createcachetable",
        "",
      ].join("\n"),
    });
    const r = await cli(["init", "--dir", dir, "--no-check"]);
    assert.equal(r.code, 0, r.err);
    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    const loaded = await loadEnvironment(
      await loadProject({ configPath: join(dir, "infra/djaploy.toml"), cwd: dir }),
      "staging",
    );
    assert.deepEqual(loaded.hosts[0].processes, {
      worker: "celery -A hello worker -l info",
      rq_high: "python manage.py rqworker high",
      beat: "celery -A hello beat",
    }, "web is djaploy's gunicorn; names are lower-cased");
    assert.match(
      toml,
      /^# Procfile blue: not written \(must not be "blue", .*\); add it under another name:\n# blue = "python manage\.py slots"$/m,
    );
    assert.match(toml, /^# Procfile 9lives: not written \(a process's name must match /m);
    assert.equal(
      loaded.hosts[0].release?.command,
      "python manage.py createcachetable",
      "what djaploy does not run itself becomes [release] command",
    );
    assert.match(
      r.out,
      /^Procfile worker: celery -A hello worker -l info: written to \[processes\] worker /m,
    );
    assert.match(r.out, /^Procfile blue: .*: not written to \[processes\]: must not be "blue"/m);
    assert.match(r.out, /^Procfile release: .*: .*the rest goes in \[release\] command/m);
  });
});

Deno.test("init: a Procfile with web and a migrate-only release writes no [processes]", async () => {
  await withHello(async (dir) => {
    await writeFiles(dir, {
      Procfile: "web: gunicorn hello.wsgi\nrelease: python manage.py migrate\n",
    });
    const r = await cli(["init", "--dir", dir, "--no-check"]);
    assert.equal(r.code, 0, r.err);
    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    assert.doesNotMatch(toml, /\[processes\]/);
    assert.doesNotMatch(toml, /^\[release\]/m, "migrate alone: djaploy runs it itself");
    assert.match(
      r.out,
      /^Procfile release: python manage\.py migrate: djaploy runs migrate and collectstatic on every deploy$/m,
    );
  });
});
