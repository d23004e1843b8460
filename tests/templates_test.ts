import assert from "node:assert/strict";
import { join } from "node:path";
import { gunicornUnit, type GunicornUnitData } from "../templates/systemd_unit.ts";
import { nginxSite, type NginxSiteData } from "../templates/nginx_site.ts";
import { envFile } from "../templates/env_file.ts";
import {
  BUILD_VENV_SH,
  HEALTH_CHECK_PY,
  HEALTH_DIAGNOSIS_PY,
  INSTALL_TOOL_SH,
  MIGRATE_AND_COLLECTSTATIC_PY,
  runWrapper,
} from "../templates/scripts.ts";
import { sh, withTempDir, writeFiles } from "./helpers/fixtures.ts";

const UNIT: GunicornUnitData = {
  appName: "hello",
  appUser: "app",
  workingDirectory: "/home/app/apps/hello/code",
  envFile: "/home/app/apps/hello/shared/env",
  runtimeDirectory: "hello",
  python: "/home/app/apps/hello/venv/bin/python",
  socketPath: "/run/hello/hello.sock",
  wsgiModule: "hello.wsgi:application",
  workers: 3,
  timeout: 60,
  preload: false,
  extraArgs: [],
  confinement: {
    readable: ["/home/app/apps/hello"],
    writable: ["/home/app/data", "/home/app/apps/hello/shared/media"],
  },
};

Deno.test("gunicornUnit: the whole unit for a sample app", () => {
  assert.equal(
    gunicornUnit(UNIT),
    `# Written by djaploy. To change it, put your own file at this path in
# infra/deploy_files/<env>/ and djaploy will use that instead.
[Unit]
Description=hello (gunicorn)
After=network.target

[Service]
Type=notify
NotifyAccess=main
User=app
Group=app
WorkingDirectory=/home/app/apps/hello/code
EnvironmentFile=/home/app/apps/hello/shared/env
RuntimeDirectory=hello
ExecStart=/home/app/apps/hello/venv/bin/python -m gunicorn --workers 3 --timeout 60 --bind unix:/run/hello/hello.sock hello.wsgi:application
ExecReload=/bin/kill -s HUP $MAINPID
KillMode=mixed
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
# Confinement (djaploy; relax with [systemd] hardening).
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=tmpfs
BindReadOnlyPaths=/home/app/apps/hello
BindPaths=/home/app/data /home/app/apps/hello/shared/media
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0027

[Install]
WantedBy=multi-user.target
`,
  );
});

Deno.test("gunicornUnit: in_place points the live-socket link at its own socket whenever it starts", () => {
  assert.match(
    gunicornUnit({ ...UNIT, liveSocketLink: "/run/djaploy/hello.sock" }),
    /\nExecStartPost=\+\/bin\/sh -c "mkdir -p \/run\/djaploy && ln -sfn \/run\/hello\/hello\.sock \/run\/djaploy\/hello\.sock\.new && mv -fT \/run\/djaploy\/hello\.sock\.new \/run\/djaploy\/hello\.sock"\n/,
  );
});

Deno.test("gunicornUnit: in_place moves the live-static link to its folder, then the socket link, whenever it starts", () => {
  const unit = gunicornUnit({
    ...UNIT,
    staticRoot: "/home/app/apps/hello/shared/staticfiles",
    liveSocketLink: "/run/djaploy/hello.sock",
    liveStaticLink: "/var/lib/djaploy/apps/hello/static",
  });
  assert.match(
    unit,
    /\nExecStartPost=\+\/bin\/sh -c "mkdir -p \/var\/lib\/djaploy\/apps\/hello && ln -sfn \/home\/app\/apps\/hello\/shared\/staticfiles \/var\/lib\/djaploy\/apps\/hello\/static\.new && mv -fT \/var\/lib\/djaploy\/apps\/hello\/static\.new \/var\/lib\/djaploy\/apps\/hello\/static && mkdir -p \/run\/djaploy && ln -sfn /,
  );
});

Deno.test("gunicornUnit: the unit's own STATIC_ROOT goes to gunicorn --env, over the env file's live link", () => {
  const unit = gunicornUnit({
    ...UNIT,
    staticRoot: "/home/app/apps/hello/shared/staticfiles-blue",
  });
  assert.match(
    unit,
    /\nExecStart=\S+ -m gunicorn .* --env STATIC_ROOT=\/home\/app\/apps\/hello\/shared\/staticfiles-blue hello\.wsgi:application\n/,
  );
  assert.match(unit, /\nEnvironmentFile=/);
});

Deno.test("gunicornUnit: preload adds --preload before the app", () => {
  assert.match(gunicornUnit({ ...UNIT, preload: true }), / --preload hello\.wsgi:application\n/);
});

Deno.test("gunicornUnit: extra arguments are quoted and escaped for systemd's ExecStart=", () => {
  const unit = gunicornUnit({
    ...UNIT,
    extraArgs: ["--access-logfile", "-", "--log-level=info", 'say "hi" $HOME 100%', "back\\slash"],
  });
  const exec = unit.split("\n").find((l) => l.startsWith("ExecStart="));
  assert.equal(
    exec,
    "ExecStart=/home/app/apps/hello/venv/bin/python -m gunicorn --workers 3 --timeout 60 " +
      "--bind unix:/run/hello/hello.sock --access-logfile - --log-level=info " +
      '"say \\"hi\\" $$HOME 100%%" "back\\\\slash" hello.wsgi:application',
  );
});

const SITE: NginxSiteData = {
  appName: "hello",
  serverName: "example.com www.example.com",
  listen: 8080,
  clientMaxBodySize: "20m",
  socketPath: "/run/hello/hello.sock",
  staticRoot: "/home/app/apps/hello/shared/staticfiles",
  mediaRoot: "/home/app/apps/hello/shared/media",
  acmeRoot: "/var/www/acme",
  snippetsDir: "/etc/nginx/djaploy.d/hello",
};

Deno.test("nginxSite: the whole site for a sample app", () => {
  assert.equal(
    nginxSite(SITE),
    `# Written by djaploy. To change it, put your own file at this path in
# infra/deploy_files/<env>/ and djaploy will use that instead.
upstream hello_app {
    server unix:/run/hello/hello.sock fail_timeout=0;
}

server {
    listen 8080;
    listen [::]:8080;
    server_name example.com www.example.com;
    client_max_body_size 20m;

    include /etc/nginx/djaploy.d/hello/*.conf;

    location /.well-known/acme-challenge/ {
        root /var/www/acme;
    }

    location /static/ {
        alias /home/app/apps/hello/shared/staticfiles/;
        expires 30d;
        access_log off;
    }

    location /media/ {
        alias /home/app/apps/hello/shared/media/;
    }

    location / {
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
        proxy_pass http://hello_app;
    }
}
`,
  );
});

Deno.test("nginxSite: server_name _ makes the site the default server", () => {
  const text = nginxSite({ ...SITE, serverName: "_", listen: 80 });
  assert.match(text, /^ {4}listen 80 default_server;$/m);
  assert.match(text, /^ {4}listen \[::\]:80 default_server;$/m);
  assert.match(text, /^ {4}server_name _;$/m);
  assert.doesNotMatch(nginxSite(SITE), /default_server/);
});

Deno.test('envFile: sorted NAME="value" lines under a header, read alike by systemd and sh', () => {
  assert.equal(
    envFile(
      new Map([["SECRET_KEY", `it's $x "q" \\`], ["DEBUG", "0"], ["ALLOWED_HOSTS", "a.com b.com"]]),
    ),
    "# Written by djaploy from [env]. Do not edit: the next deploy rewrites it.\n" +
      'ALLOWED_HOSTS="a.com b.com"\n' +
      'DEBUG="0"\n' +
      `SECRET_KEY="it's \\$x \\"q\\" \\\\"\n`,
  );
  assert.equal(
    envFile(new Map()),
    "# Written by djaploy from [env]. Do not edit: the next deploy rewrites it.\n",
  );
  // Code-point order, whatever this machine's locale (a collator puts "_" and lower case elsewhere).
  const names = envFile(new Map(["a_b", "aB", "A_B", "AB", "AA"].map((k) => [k, ""])))
    .split("\n").slice(1, -1).map((l) => l.split("=")[0]);
  assert.deepEqual(names, ["AA", "AB", "A_B", "aB", "a_b"]);
});

const TRICKY = new Map([
  ["QUOTE", "it's"],
  ["DOLLAR", "$HOME ${PATH} $(id) `id`"],
  ["SPACES", "  two  spaces  "],
  ["NEWLINE", "line 1\nline 2\n"],
  ["ALL", `a 'b' "c" $d \\e\nf # g`],
  ["EMPTY", ""],
]);

Deno.test("envFile: every value comes back unchanged when /bin/sh sources the file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "env");
    await Deno.writeTextFile(path, envFile(TRICKY));
    for (const [key, value] of TRICKY) {
      const r = await sh(`set -a; . "$1"; printf '%s' "$${key}"`, [path]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, value, key);
    }
  });
});

Deno.test("runWrapper: the whole script", () => {
  assert.equal(
    runWrapper("/home/app/apps/hello/shared/env"),
    `#!/bin/sh
# Written by djaploy: runs a command with the app's environment, e.g.
#   bin/run venv/bin/python code/manage.py shell
set -a
. '/home/app/apps/hello/shared/env'
set +a
exec "$@"
`,
  );
});

Deno.test("runWrapper: runs its arguments with the env file's variables exported", async () => {
  await withTempDir(async (dir) => {
    // A quote and a space in the path, to prove the path is quoted too.
    const envPath = join(dir, "it's shared", "env");
    await writeFiles(dir, { "it's shared/env": envFile(TRICKY) });
    const run = join(dir, "run");
    await Deno.writeTextFile(run, runWrapper(envPath));
    await Deno.chmod(run, 0o755);
    const out = await new Deno.Command(run, {
      args: ["sh", "-c", 'printf "%s|%s|%s" "$QUOTE" "$ALL" "$1"', "sh", "arg with 'quote'"],
      env: {},
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    assert.equal(dec.decode(out.stdout), `it's|${TRICKY.get("ALL")}|arg with 'quote'`);
  });
});

async function pythonParses(source: string): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command("python3", {
    args: ["-c", "import ast,sys; ast.parse(sys.stdin.read())"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source));
  await writer.close();
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("HEALTH_CHECK_PY and MIGRATE_AND_COLLECTSTATIC_PY are valid Python", async () => {
  for (const source of [HEALTH_CHECK_PY, HEALTH_DIAGNOSIS_PY, MIGRATE_AND_COLLECTSTATIC_PY]) {
    const r = await pythonParses(source);
    assert.equal(r.code, 0, r.stderr);
  }
  // The check itself would catch a broken script: prove it.
  assert.notEqual((await pythonParses("def broken(:\n")).code, 0);
});

Deno.test("HEALTH_CHECK_PY: an unreachable socket is retried, then reported on stderr with exit 2", async () => {
  await withTempDir(async (dir) => {
    const out = await new Deno.Command("python3", {
      args: ["-c", HEALTH_CHECK_PY, join(dir, "none.sock"), "/", "localhost", "200", "2", "0"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /^GET \/ with Host: localhost answered no HTTP answer \(.*No such file or directory.*\) after 2 tries, expected HTTP 200\n$/,
    );
  });
});

/** Serves `answers` in turn (the last one from then on) on a unix socket while `fn` runs. */
async function withAnswers(
  answers: readonly number[],
  fn: (socket: string, seen: string[]) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const socket = join(dir, "app.sock");
    const seen: string[] = [];
    const server = Deno.serve(
      { path: socket, transport: "unix", onListen: () => {} },
      (req) => {
        seen.push(`${req.headers.get("host")} ${req.headers.get("x-forwarded-proto")}`);
        const status = answers[Math.min(seen.length, answers.length) - 1];
        const body = status === 503
          ? "  starting\n  up "
          : status === 400
          ? "<h1>Bad Request (400)</h1>"
          : "ok";
        return new Response(status === 302 ? null : body, {
          status,
          headers: status === 302 ? { location: "/login/" } : {},
        });
      },
    );
    try {
      await fn(socket, seen);
    } finally {
      await server.shutdown();
    }
  });
}

function probe(socket: string, expected: string, retries: string) {
  return new Deno.Command("python3", {
    args: ["-c", HEALTH_CHECK_PY, socket, "/health/", "example.com", expected, retries, "0"],
    stdout: "piped",
    stderr: "piped",
  }).output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
}

Deno.test("HEALTH_CHECK_PY: probes over the unix socket with the Host header and https; 503 while booting is retried", async () => {
  await withAnswers([503, 503, 200], async (socket, seen) => {
    const ok = await probe(socket, "200", "5");
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "HTTP 200 after 3 tries\n");
    assert.deepEqual(seen, Array(3).fill("example.com https"));
  });
});

Deno.test("HEALTH_CHECK_PY: a wrong final answer fails at the first try, naming path, Host and status", async () => {
  await withAnswers([400], async (socket, seen) => {
    const bad = await probe(socket, "200", "100");
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      "GET /health/ with Host: example.com answered HTTP 400 (Bad Request (400)) " +
        "after 1 try, expected HTTP 200\n",
    );
    assert.equal(seen.length, 1, "a 400 is not asked again");
  });
  await withAnswers([200], async (socket) => {
    const bad = await probe(socket, "204", "2");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /answered HTTP 200 \(ok\) after 1 try, expected HTTP 204\n$/);
  });
});

Deno.test("HEALTH_CHECK_PY: a range accepts any status in it (the default probe of / takes 2xx and 3xx)", async () => {
  await withAnswers([302], async (socket) => {
    const ok = await probe(socket, "200-399", "3");
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "HTTP 302 after 1 tries\n");
  });
  await withAnswers([302], async (socket) => {
    const bad = await probe(socket, "200", "3");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /answered HTTP 302 to \/login\/ after 1 try, expected HTTP 200\n$/);
  });
  await withAnswers([503], async (socket, seen) => {
    const bad = await probe(socket, "200-399", "3");
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /answered HTTP 503 \(starting up\) after 3 tries, expected HTTP 200-399\n$/,
    );
    assert.equal(seen.length, 3);
  });
});

Deno.test("BUILD_VENV_SH is valid sh", async () => {
  const r = await sh('sh -n -c "$1"', [BUILD_VENV_SH]);
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual((await sh('sh -n -c "$1"', ["if then fi"])).code, 0);
});

Deno.test("BUILD_VENV_SH: an existing complete virtualenv is left alone", async () => {
  await withTempDir(async (dir) => {
    const venv = join(dir, "venv");
    await writeFiles(venv, { ".djaploy-complete": "", "marker": "kept" });
    const r = await sh(BUILD_VENV_SH, [venv, "python3-no-such", "pip", "0", dir, "", ""]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(venv, "marker")), "kept");
  });
});

Deno.test("BUILD_VENV_SH: uv runs `sync --frozen` into the venv, the index coming from dependencies.env, not argv", async () => {
  await withTempDir(async (dir) => {
    const venv = join(dir, "shared", "venv-0123456789abcdef-py3");
    const project = join(dir, "code");
    // A recording stand-in for uv: its arguments, where it runs, and what it was given.
    await writeFiles(dir, {
      "code/uv.lock": "version = 1\n",
      "deps.env": 'UV_INDEX_URL="http://u:s3cret@index.test/simple/"\n',
      "uv": `#!/bin/sh
{ printf '%s\\n' "$@"; echo "cwd=$PWD"; echo "env=$UV_PROJECT_ENVIRONMENT"; echo "index=$UV_INDEX_URL"; } > "${dir}/uv.args"
`,
    });
    await Deno.chmod(join(dir, "uv"), 0o755);
    const r = await sh(BUILD_VENV_SH, [
      venv,
      "python3",
      "uv",
      "1",
      project,
      join(dir, "uv"),
      join(dir, "deps.env"),
      "--extra",
      "web",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await Deno.readTextFile(join(dir, "uv.args"))).trim().split("\n"), [
      "sync",
      "--frozen",
      "--no-dev",
      "--no-install-project",
      "--extra",
      "web",
      `cwd=${project}`,
      `env=${venv}`,
      "index=http://u:s3cret@index.test/simple/",
    ]);
    await Deno.stat(join(venv, ".djaploy-complete"));
    await Deno.stat(join(venv, "bin", "python"));
  });
});

Deno.test("INSTALL_TOOL_SH is valid sh and leaves a complete tool alone", async () => {
  assert.equal((await sh('sh -n -c "$1"', [INSTALL_TOOL_SH])).code, 0);
  await withTempDir(async (dir) => {
    const tool = join(dir, "uv-0.5.11");
    await writeFiles(tool, { ".djaploy-complete": "", "marker": "kept" });
    const r = await sh(INSTALL_TOOL_SH, [tool, "uv", "0.5.11", join(dir, "none.env")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(tool, "marker")), "kept");
  });
});
