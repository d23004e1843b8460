/** [hooks] and [release] in the config, and the hook runner's own points (lib/engine/hooks.ts). */
import assert from "node:assert/strict";
import { loadEnvironment, loadProject } from "../lib/config/load.ts";
import { ConfigError } from "../lib/errors.ts";
import { hookAborts, hookRun, remoteHookCommand } from "../lib/engine/hooks.ts";
import { layoutFor } from "../lib/host/layout.ts";
import { toShell } from "../lib/exec/remote_command.ts";
import { RecordingExecutor } from "../lib/exec/recording_executor.ts";
import { defineModule, type StepContext } from "../mod.ts";
import { collectingUi, loadTestProject, withTempDir, writeFiles } from "./helpers/fixtures.ts";
import { join } from "node:path";
import { main } from "../cli.ts";
import { Ui } from "../lib/output/ui.ts";
import { procfileReleaseCommand } from "../templates/init_files.ts";

async function loadError(dir: string, toml: string): Promise<string> {
  await writeFiles(dir, {
    "infra/djaploy.toml": `project_name = "hello"\n${toml}`,
    "infra/inventory/test.toml": '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
  });
  try {
    const project = await loadProject({ cwd: dir });
    await loadEnvironment(project, "test");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("hooks config: entries with their defaults, and [release] command", async () => {
  await withTempDir(async (dir) => {
    const { host } = await loadTestProject(
      dir,
      `project_name = "hello"

[release]
command = "python manage.py createcachetable"

[[hooks.after_switch]]
run = "curl -X PURGE https://cdn.example/"
on = "local"

[[hooks.after_switch]]
run = "systemctl reload php-fpm"
user = "root"

[[hooks.before_migrate]]
run = "python manage.py check --deploy"
`,
    );
    assert.equal(host.release.command, "python manage.py createcachetable");
    assert.deepEqual(host.hooks, {
      after_switch: [
        { run: "curl -X PURGE https://cdn.example/", on: "local", user: "app" },
        { run: "systemctl reload php-fpm", on: "remote", user: "root" },
      ],
      before_migrate: [{ run: "python manage.py check --deploy", on: "remote", user: "app" }],
    });
  });
});

Deno.test("hooks config: bad entries name the file, line, key and what is allowed", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, string][] = [
      [
        '[[hooks.after_switch]]\nrun = "x"\non = "server"\n',
        'infra/djaploy.toml:4: hooks.after_switch[0].on: must be one of "remote", "local": got "server"',
      ],
      [
        '[[hooks.after_switch]]\nrun = "x"\non = "local"\nuser = "root"\n',
        'hooks.after_switch[0].user: must not be set with on = "local"',
      ],
      ['[[hooks.after_switch]]\nrn = "x"\n', 'hooks.after_switch[0].rn: unknown key "rn"'],
      ['[[hooks.after_switch]]\non = "local"\n', "hooks.after_switch[0].run: is required"],
      ['[[hooks.after_swich]]\nrun = "x"\n', 'did you mean "after_switch"'],
      ['[release]\ncommand = "  "\n', "release.command: must be a non-empty command"],
    ];
    for (const [toml, expected] of cases) {
      const message = await loadError(dir, toml);
      assert.ok(message.includes(expected), `${toml}\n-> ${message}`);
    }
  });
});

Deno.test("hooks: which points stop the command when a hook fails", () => {
  assert.equal(hookAborts("before_switch"), true);
  assert.equal(hookAborts("after_migrate"), true, "after migrate, traffic has not moved yet");
  assert.equal(hookAborts("after_switch"), false);
  assert.equal(hookAborts("after_deploy"), false);
});

Deno.test("hooks: a root hook runs in /, never in a folder the app user can write, without the app's env", async () => {
  await withTempDir(async (dir) => {
    const { host, env } = await loadTestProject(dir, 'project_name = "hello"\n');
    const ctx = { host, env, layout: layoutFor(host), release: undefined };
    const root = remoteHookCommand(ctx, "after_switch", { run: "id", on: "remote", user: "root" });
    assert.equal(
      toShell(root, "deploy"),
      "sudo -n -H -- env -C / DJAPLOY_HOOK=after_switch DJAPLOY_ENV=test DJAPLOY_APP=hello " +
        "DJAPLOY_HOST=web1 sh -c id",
    );
    const app = remoteHookCommand(ctx, "after_switch", { run: "id", on: "remote", user: "app" });
    assert.equal(
      toShell(app, "deploy"),
      "sudo -n -H -u app -- env -C /home/app/apps/hello DJAPLOY_HOOK=after_switch " +
        "DJAPLOY_ENV=test DJAPLOY_APP=hello DJAPLOY_HOST=web1 /etc/djaploy/apps/hello/run sh -c id",
    );
  });
});

Deno.test("hooks: a command's own points: local hooks once, remote ones and module steps as a step per host", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      `project_name = "hello"

[[hooks.before_restore]]
run = "echo local-before"
on = "local"

[[hooks.after_restore]]
run = "echo remote-after"

[[hooks.after_restore]]
run = "exit 1"
on = "local"
`,
    );
    const events: string[] = [];
    const mod = defineModule({
      name: "cdn",
      hooks: {
        after_restore: [{
          name: "purge",
          run: (ctx) => {
            events.push(`module ${ctx.host.name}`);
            return Promise.resolve();
          },
        }],
      },
    });
    const out: string[] = [];
    const err: string[] = [];
    const ui = new Ui({
      verbosity: "normal",
      color: false,
      events: true,
      write: (t) => out.push(t),
      writeErr: (t) => err.push(t),
    });
    const hooks = hookRun({
      command: "restore",
      ui,
      dryRun: false,
      project: loaded.project,
      envName: "test",
      modules: () => Promise.resolve([mod]),
      local: (run, opts) => {
        events.push(`local ${run} ${opts.env.DJAPLOY_HOOK} ${opts.env.DJAPLOY_HOSTS}`);
        return Promise.resolve({ code: run === "exit 1" ? 1 : 0, stdout: "", stderr: "" });
      },
    });
    await hooks.local("before_restore", [loaded.host]);
    assert.deepEqual(await hooks.hostSteps("before_restore", loaded.host), [], "nothing remote");
    const [step] = await hooks.hostSteps("after_restore", loaded.host);
    assert.equal(step.name, "after_restore hooks");
    const exec = new RecordingExecutor({ host: "web1", sshUser: "deploy" });
    const log = { info: () => {}, warn: () => {}, debug: () => {} };
    await step.run(
      { ...loaded, layout: layoutFor(loaded.host), exec, log } as unknown as StepContext,
    );
    await hooks.local("after_restore", [loaded.host]);
    assert.deepEqual(events, [
      "local echo local-before before_restore web1",
      "module web1",
      "local exit 1 after_restore web1",
    ]);
    assert.match(exec.lines()[0], /DJAPLOY_HOOK=after_restore .* sh -c 'echo remote-after'$/);
    assert.equal(hooks.failures.length, 1, "the failed after_restore hook is reported");
    assert.match(err.join(""), /the after_restore hook "exit 1" failed on this machine/);
    assert.match(
      out.join(""),
      /"event":"hook","status":"failed","point":"after_restore","where":"this machine"/,
    );
  });
});

Deno.test("hooks: a failing local before_* hook stops the command with what to fix", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      'project_name = "hello"\n\n[[hooks.before_deploy]]\nrun = "false"\non = "local"\n',
    );
    const { ui } = collectingUi();
    const hooks = hookRun({
      command: "deploy",
      ui,
      dryRun: false,
      project: loaded.project,
      envName: "test",
      local: () => Promise.resolve({ code: 1, stdout: "", stderr: "no VPN" }),
    });
    await assert.rejects(
      () => hooks.local("before_deploy", [loaded.host]),
      /Fix the before_deploy hook "false": it failed on this machine with exit code 1/,
    );
  });
});

Deno.test("init: a Procfile's release: line becomes [release] command, without the migrate djaploy runs", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")\n',
      "shop/__init__.py": "",
      "shop/settings.py": "import os\n",
      "requirements.txt": "Django==4.2\n",
      "Procfile": "web: gunicorn shop.wsgi\n" +
        "release: python manage.py migrate && python manage.py createcachetable\n",
    });
    const err: string[] = [];
    const code = await main(["init", "--dir", dir, "--no-check"], {
      write: () => {},
      writeErr: (t) => err.push(t),
      isTerminal: false,
    });
    assert.equal(code, 0, err.join(""));
    const toml = await Deno.readTextFile(join(dir, "infra/djaploy.toml"));
    assert.match(toml, /^\[release\]\n(#.*\n)*command = "python manage\.py createcachetable"$/m);
    // And the file loads: the key is valid where init writes it.
    const project = await loadProject({ cwd: dir });
    assert.ok(project.settings);
  });
});

Deno.test("init: a release: line that only migrates writes no [release] table", () => {
  const p = (command: string) =>
    procfileReleaseCommand({ procfile: [{ type: "release", command }] });
  assert.equal(p("python manage.py migrate"), undefined);
  assert.equal(p("python3 manage.py migrate --noinput && ./bin/warm"), "./bin/warm");
  assert.equal(p("python manage.py migrate; ./bin/warm"), "python manage.py migrate; ./bin/warm");
});
