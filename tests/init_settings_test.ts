/**
 * `djaploy init` on real-world settings: the DEBUG patterns and the value
 * that turns each off, and examples/catalog (a Heroku-style project): what
 * init reports, the [env] values it writes, and its printed changes applied
 * as a reader would, then read back by Debian's Django.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";
import { analyseDebug, analyseSettings, findAssignment } from "../lib/django/settings.ts";
import { applyPrintedEdits, parsePrintedEdits } from "./helpers/init_edits.ts";
import { withTempDir } from "./helpers/fixtures.ts";
import { loadEnvironment, loadProject } from "../lib/config/load.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = "/usr/bin/python3";
const hasDjango = await new Deno.Command(PYTHON, { args: ["-c", "import django"] }).output()
  .then((o) => o.success, () => false);

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

Deno.test("init: DEBUG patterns: on by default or not, and the value that turns each off", () => {
  const cases: [string, boolean | undefined, string | undefined, string | undefined][] = [
    [`DEBUG = os.environ.get("DEBUG", "True") == "True"`, true, "False", "DEBUG"],
    [`DEBUG = os.environ.get('DJANGO_DEBUG', '') != 'False'`, true, "False", "DJANGO_DEBUG"],
    [`DEBUG = os.environ.get("DEBUG", "False") == "True"`, false, "False", "DEBUG"],
    [`DEBUG = os.environ.get("DEBUG", "1") == "1"`, true, "False", "DEBUG"],
    [`DEBUG = os.getenv("DEBUG", "true").lower() in ("true", "1", "yes")`, true, "False", "DEBUG"],
    [`DEBUG = os.getenv("DEBUG", "no").lower() in ["true", "1"]`, false, "False", "DEBUG"],
    [`DEBUG = bool(int(os.environ.get("DEBUG", 1)))`, true, "0", "DEBUG"],
    [`DEBUG = int(os.environ.get("DEBUG", "0"))`, false, "0", "DEBUG"],
    [`DEBUG = env.bool("DJANGO_DEBUG", default=True)`, true, "False", "DJANGO_DEBUG"],
    [`DEBUG = config("DEBUG", default=False, cast=bool)`, false, "False", "DEBUG"],
    [`DEBUG = env_bool("DJANGO_DEBUG", False)`, false, "False", "DJANGO_DEBUG"],
    [`DEBUG = bool(os.environ.get("DEBUG", True))`, true, "", "DEBUG"],
    [`DEBUG = os.environ.get("DEBUG")`, false, "", "DEBUG"],
    [`DEBUG = "DEBUG" in os.environ`, false, undefined, "DEBUG"],
    [`DEBUG = True`, true, undefined, undefined],
    [`DEBUG = False`, false, undefined, undefined],
    [`DEBUG = some_helper()`, undefined, undefined, undefined],
  ];
  for (const [line, on, off, envVar] of cases) {
    const d = analyseDebug(findAssignment([line], "DEBUG")!);
    assert.deepEqual([d.onByDefault, d.offValue, d.envVar], [on, off, envVar], line);
  }
  assert.equal(analyseDebug(findAssignment(["DEBUG = True"], "DEBUG")!).hardCodedOn, true);
});

Deno.test("init: ALLOWED_HOSTS and DATABASES, one line or several", () => {
  const f = analyseSettings(
    [
      "from pathlib import Path",
      "BASE_DIR = Path(__file__).resolve().parent.parent",
      "ALLOWED_HOSTS = [",
      "    'example.com',  # the site",
      '    "www.example.com",',
      "]",
      "DATABASES = {",
      "    'default': {",
      "        'ENGINE': 'django.db.backends.sqlite3',",
      "        'NAME': BASE_DIR / 'db.sqlite3',",
      "    }",
      "}",
      "",
    ].join("\n"),
  );
  assert.equal(f.importsOs, false);
  assert.equal(f.lastImportLine, 1);
  assert.deepEqual(
    [f.allowedHosts?.line, f.allowedHosts?.endLine, f.allowedHosts?.hosts],
    [3, 6, ["example.com", "www.example.com"]],
  );
  assert.deepEqual(
    [f.database?.kind, f.database?.insideProject, f.database?.nameLine?.line],
    ["settings", true, 10],
  );
  const fromEnv = analyseSettings(
    'ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(" ")\n' +
      "DATABASES = {'default': dj_database_url.config(default='postgres://localhost/app')}\n",
  );
  assert.deepEqual(
    [fromEnv.allowedHosts?.envVar, fromEnv.allowedHosts?.separator],
    ["DJANGO_ALLOWED_HOSTS", " "],
  );
  assert.deepEqual(
    [fromEnv.database?.kind, fromEnv.database?.engine, fromEnv.database?.insideProject],
    ["url", "other", false],
  );
});

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name === "__pycache__" || e.name === "db.sqlite3") continue;
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

Deno.test("init: on examples/catalog says what to change, writes the [env] values and the changes work", async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "catalog");
    await copyTree(join(REPO, "examples/catalog"), dir);
    const original = await Deno.readTextFile(join(dir, "catalog/settings.py"));
    const r = await cli(["init", "--dir", dir, "--no-check"]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /^warning: catalog\/settings\.py:\d+: Read ALLOWED_HOSTS from the environment: it is hard-coded to localhost, 127\.0\.0\.1, \.herokuapp\.com, so the site answers 400 Bad Request/m,
    );
    assert.match(
      r.err,
      /^warning: catalog\/settings\.py:\d+: DEBUG is on unless DEBUG says otherwise: infra\/djaploy\.toml sets DEBUG = "False" in \[env\], the value that turns it off\.$/m,
    );
    assert.match(
      r.err,
      /^warning: catalog\/settings\.py:\d+: The database defaults to a SQLite file inside the project folder/m,
    );
    assert.match(r.out, /^Procfile web: gunicorn catalog\.wsgi: djaploy runs gunicorn itself/m);
    assert.match(r.out, /^Procfile release: python manage\.py migrate: djaploy runs migrate/m);
    assert.match(r.out, /^python_version = "3\.11" from runtime\.txt/m);
    assert.match(r.out, /^dj-database-url: DATABASE_URL in \[env\] chooses the database$/m);
    assert.match(r.out, /^health check: no health URL in your urls\.py/m);
    assert.match(r.out, /^ {2}3\. Make the changes to catalog\/settings\.py above, then commit/m);
    assert.doesNotMatch(r.out, /check --deploy/, "--no-check");

    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    assert.match(toml, /^DEBUG = "False"$/m);
    assert.match(toml, /^DATABASE_URL = "sqlite:\/\/\/\/home\/app\/data\/db\.sqlite3"$/m);
    assert.doesNotMatch(toml, /^path = /m, "no health URL: the default probe");
    assert.match(toml, /^# catalog\/settings\.py:\d+: Read ALLOWED_HOSTS/m);
    const project = await loadProject({ configPath: join(dir, "infra/djaploy.toml"), cwd: dir });
    const staging = await loadEnvironment(project, "staging");
    const host = staging.hosts[0];
    assert.equal(host.env.ALLOWED_HOSTS, "web-1.staging.example.com");
    assert.equal(host.env.DEBUG, "False");
    assert.equal(host.gunicorn.wsgi_module, "catalog.wsgi:application");

    const edits = parsePrintedEdits(r.err);
    assert.deepEqual(
      edits.map((e) => e.text.split(" = ")[0]),
      ["ALLOWED_HOSTS", "STATIC_ROOT", "MEDIA_ROOT"],
    );
    assert.deepEqual(await applyPrintedEdits(dir, r.err), ["catalog/settings.py"]);
    const edited = await Deno.readTextFile(join(dir, "catalog/settings.py"));
    assert.notEqual(edited, original);

    if (!hasDjango) return;
    const read = async (env: Record<string, string>) => {
      const out = await new Deno.Command(PYTHON, {
        args: [
          "-c",
          "import json, django; from django.conf import settings as s; django.setup(); " +
          "print(json.dumps([s.ALLOWED_HOSTS, s.DEBUG, str(s.STATIC_ROOT), s.MEDIA_ROOT, " +
          "str(s.DATABASES['default']['NAME'])]))",
        ],
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", DJANGO_SETTINGS_MODULE: "catalog.settings", ...env },
        clearEnv: true,
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      return JSON.parse(new TextDecoder().decode(out.stdout));
    };
    // As on the server: the values djaploy's env file holds.
    assert.deepEqual(
      await read({
        ALLOWED_HOSTS: "10.0.0.5,example.org",
        DEBUG: "False",
        STATIC_ROOT: "/srv/static",
        MEDIA_ROOT: "/srv/media",
        DATABASE_URL: "sqlite:////home/app/data/db.sqlite3",
      }),
      [
        ["10.0.0.5", "example.org"],
        false,
        "/srv/static",
        "/srv/media",
        "/home/app/data/db.sqlite3",
      ],
    );
    // On a laptop, nothing set: as before the change.
    assert.deepEqual(await read({}), [
      ["localhost", "127.0.0.1", ".herokuapp.com"],
      true,
      join(dir, "staticfiles"),
      "",
      join(dir, "db.sqlite3"),
    ]);
  });
});

Deno.test({
  name: "init: runs manage.py check --deploy here with the servers' [env] values",
  ignore: !hasDjango,
  fn: async () => {
    await withTempDir(async (tmp) => {
      const dir = join(tmp, "catalog");
      await copyTree(join(REPO, "examples/catalog"), dir);
      const r = await cli(["init", "--dir", dir]);
      assert.equal(r.code, 0, r.err);
      assert.match(
        r.out,
        /^manage\.py check --deploy \(.*python3?: your settings as they are now, with the \[env\] values above\) says/m,
      );
      assert.match(
        r.out,
        /^ {2}security\.W004: You have not set a value for the SECURE_HSTS_SECONDS/m,
      );
      assert.doesNotMatch(r.out, /security\.W018/, "DEBUG is off with the [env] value init wrote");
      assert.doesNotMatch(r.out, /security\.W009/, "the servers' SECRET_KEY is not the dev one");
    });
  },
});

Deno.test({
  name: "init: on a fresh `django-admin startproject` the printed changes (import os, " +
    "SECRET_KEY, DEBUG, ALLOWED_HOSTS, the database's NAME) apply and work",
  ignore: !hasDjango,
  fn: async () => {
    await withTempDir(async (tmp) => {
      const made = await new Deno.Command(PYTHON, {
        args: ["-m", "django", "startproject", "mysite", tmp],
        stdout: "null",
      }).output();
      assert.ok(made.success);
      const r = await cli(["init", "--dir", tmp, "--no-check"]);
      assert.equal(r.code, 0, r.err);
      const edits = parsePrintedEdits(r.err);
      assert.deepEqual(edits.map((e) => e.text.trim().split(/ = |:/)[0]), [
        "import os",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "'NAME'",
        "STATIC_ROOT",
        "MEDIA_ROOT",
      ]);
      const toml = await Deno.readTextFile(join(tmp, "infra/djaploy.toml"));
      assert.match(toml, /^DEBUG = "False"$/m);
      assert.match(toml, /^DATABASE_PATH = "\/home\/app\/data\/db\.sqlite3"$/m);
      await applyPrintedEdits(tmp, r.err);
      const read = async (env: Record<string, string>) => {
        const out = await new Deno.Command(PYTHON, {
          args: [
            "-c",
            "import json, django; from django.conf import settings as s; django.setup(); " +
            "print(json.dumps([s.ALLOWED_HOSTS, s.DEBUG, str(s.DATABASES['default']['NAME']), " +
            "s.SECRET_KEY[:16]]))",
          ],
          cwd: tmp,
          env: { PATH: "/usr/bin:/bin", DJANGO_SETTINGS_MODULE: "mysite.settings", ...env },
          clearEnv: true,
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        return JSON.parse(new TextDecoder().decode(out.stdout));
      };
      assert.deepEqual(
        await read({
          DEBUG: "False",
          ALLOWED_HOSTS: "203.0.113.10",
          DATABASE_PATH: "/home/app/data/db.sqlite3",
          SECRET_KEY: "from-the-env-file-0123456789",
        }),
        [["203.0.113.10"], false, "/home/app/data/db.sqlite3", "from-the-env-fil"],
      );
      assert.deepEqual(await read({}), [[], true, join(tmp, "db.sqlite3"), "django-insecure-"]);
    });
  },
});

Deno.test("init: reports a Procfile's worker and release lines, whitenoise, runtime.txt and a health URL", async () => {
  await withTempDir(async (dir) => {
    const files: Record<string, string> = {
      "manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")\n',
      "shop/__init__.py": "",
      "shop/settings.py":
        "import os\nMIDDLEWARE = ['whitenoise.middleware.WhiteNoiseMiddleware']\n" +
        "STATIC_ROOT = os.environ.get('STATIC_ROOT')\nMEDIA_ROOT = os.environ.get('MEDIA_ROOT')\n",
      "shop/urls.py": 'urlpatterns = [path("healthz/", views.health), path("", views.home)]\n',
      "requirements.txt": "Django==4.2\nwhitenoise==6.5\ndj-database-url==2.1\n",
      "runtime.txt": "python-3.12.1\n",
      "Procfile": "web: gunicorn shop.wsgi:app --workers 3\n" +
        "release: python manage.py migrate && python manage.py createcachetable\n" +
        "worker: celery -A shop worker\n",
    };
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    const r = await cli(["init", "--dir", dir, "--no-check"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^found manage\.py, settings shop\.settings, WSGI shop\.wsgi:app,/m);
    assert.match(
      r.out,
      /^Procfile release: .*createcachetable: djaploy runs migrate and collectstatic on every deploy; the rest goes in \[release\] command/m,
    );
    assert.match(
      r.out,
      /^Procfile worker: celery -A shop worker: written to \[processes\] worker \(a systemd unit of the app, restarted on every deploy\)$/m,
    );
    assert.match(
      r.out,
      /^python_version = "3\.12" from runtime\.txt: Debian 12 packages 3\.11; for another version set python_compile = true$/m,
    );
    assert.match(r.out, /^whitenoise: nginx serves \/static\/ from STATIC_ROOT/m);
    assert.match(r.out, /^dj-database-url: DATABASE_URL in \[env\] chooses the database$/m);
    assert.match(
      r.out,
      /^health check: \/healthz\/ \(found in your urls\.py\), written to \[health_check\] path$/m,
    );
    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    assert.match(toml, /^wsgi_module = "shop\.wsgi:app"$/m);
    assert.match(toml, /^path = "\/healthz\/"$/m);
    assert.match(toml, /^python_version = "3\.12"$/m);
  });
});
