import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS, main } from "../cli.ts";
import { VERSION } from "../lib/version.ts";
import { cacheDir } from "../lib/cache.ts";
import type { ProjectConfig } from "../lib/config/types.ts";
import { withTempDir, writeFiles } from "./helpers/fixtures.ts";

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    write: (t) => out.push(t),
    writeErr: (t) => err.push(t),
    isTerminal: false,
  });
  return { code, out: out.join(""), err: err.join("") };
}

/** A minimal project: infra/djaploy.toml and one environment, "test", with one host. */
async function withProject(fn: (config: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "infra/djaploy.toml": 'project_name = "hello"\n',
      "infra/inventory/test.toml": '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
    });
    await fn(join(dir, "infra", "djaploy.toml"));
  });
}

Deno.test("cli: --help lists the commands and exits 0", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.equal(r.err, "");
  assert.match(r.out, /^Usage: djaploy <command> \[options\]$/m);
  for (const name of ["verify", "configure", "deploy"]) {
    assert.match(r.out, new RegExp(`^  ${name} +\\S`, "m"), `help lacks ${name}`);
  }
  assert.equal((await run(["-h"])).out, r.out);
  assert.equal((await run(["help"])).code, 0);
});

Deno.test("cli: no command prints the help and exits 2", async () => {
  const r = await run([]);
  assert.equal(r.code, 2);
  assert.match(r.out, /Commands:/);
});

Deno.test("cli: --version prints the version", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.out, `djaploy ${VERSION}\n`);
  }
});

Deno.test("cli: an unknown command exits 2 with the commands there are", async () => {
  const r = await run(["deplyo"]);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.equal(
    r.err,
    `error: Unknown command "deplyo" (did you mean "deploy"?): try one of ${
      COMMANDS.map((c) => c.def.name).join(", ")
    }\nhint: See: djaploy --help\n`,
  );
});

Deno.test("cli: a command's --help shows its options and exits 0", async () => {
  const r = await run(["deploy", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: djaploy deploy \[options\]/);
  assert.match(r.out, /--release TAG/);
  const alias = await run(["configureserver", "-h"]);
  assert.equal(alias.code, 0);
  assert.match(alias.out, /^Usage: djaploy configure \[options\]/);
});

Deno.test("cli: deploy with two artifact sources exits 2", async () => {
  const r = await run(["deploy", "--latest", "--local"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    "error: Choose one of --latest, --local and --release: got --latest and --local\n",
  );
  const three = await run(["deploy", "--local", "--release", "v1"]);
  assert.equal(three.code, 2);
  assert.match(
    three.err,
    /Choose one of --latest, --local and --release: got --local and --release/,
  );
});

Deno.test("cli: an unknown flag exits 2 with a suggestion", async () => {
  const r = await run(["deploy", "--dryrun"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    'error: Unknown option --dryrun for "djaploy deploy" (did you mean --dry-run?)\n' +
      "hint: See: djaploy deploy --help\n",
  );
});

Deno.test("cli: --verbose with --quiet exits 2", async () => {
  const r = await run(["configure", "-v", "-q"]);
  assert.equal(r.code, 2);
  assert.equal(r.err, "error: Choose one of --verbose and --quiet\n");
});

Deno.test("cli: deploy without --env exits 2 and asks for it", async () => {
  await withProject(async (config) => {
    const r = await run(["deploy", "--config", config]);
    assert.equal(r.code, 2);
    assert.equal(r.err, "error: djaploy deploy needs --env NAME: which environment to act on\n");
    const c = await run(["configure", "--config", config]);
    assert.equal(c.code, 2);
    assert.match(c.err, /djaploy configure needs --env NAME/);
  });
});

Deno.test("cli: deploy to an environment that does not exist exits 2 and names the ones there are", async () => {
  await withProject(async (config) => {
    const r = await run(["deploy", "--config", config, "--env", "prod"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: Unknown environment "prod": .*inventory\/ has "test"\n$/);
  });
});

Deno.test("cli: a config file that does not exist exits 2", async () => {
  await withTempDir(async (dir) => {
    const r = await run(["deploy", "--config", join(dir, "nope.toml"), "--env", "test"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: Cannot read .*nope\.toml: no such file\n$/);
  });
});

Deno.test("cli: every flag the strategies document is accepted by deploy --help", async () => {
  const r = await run(["deploy", "--help"]);
  assert.equal(r.code, 0);
  for (
    const flag of ["--activate", "--batch-size", "--force", "--lock-wait", "--dry-run", "--release"]
  ) {
    assert.ok(r.out.includes(flag), `deploy --help lacks ${flag}`);
  }
});

// ---------------------------------------------------------------------------
// Hostile or mistaken input: each exits 2 before any connection.

/** A TCP port that counts connections: a host whose ssh_port it is shows whether ssh ran. */
async function withSshTrap(fn: (port: number, connections: () => number) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      count++;
      conn.close(); // ssh fails at once: "connection closed"
    }
  })();
  try {
    await fn((listener.addr as Deno.NetAddr).port, () => count);
  } finally {
    listener.close();
    await accepting.catch(() => undefined);
  }
}

/** A project under git whose one host is the trap (127.0.0.1:port). */
async function withTrappedProject(
  files: Record<string, string>,
  fn: (config: string, dir: string, connections: () => number) => Promise<void>,
): Promise<void> {
  await withSshTrap(async (port, connections) => {
    await withTempDir(async (dir) => {
      await writeFiles(dir, {
        "infra/djaploy.toml": 'project_name = "hello"\n',
        "infra/inventory/test.toml": [
          "[[hosts]]",
          'name = "web1"',
          'ssh_hostname = "127.0.0.1"',
          `ssh_port = ${port}`,
          'known_hosts_file = "known_hosts"',
          "",
          "[[hosts]]",
          'name = "web2"',
          'ssh_hostname = "127.0.0.1"',
          `ssh_port = ${port}`,
          "",
        ].join("\n"),
        "manage.py": "",
        ...files,
      });
      const git = async (...args: string[]) => {
        const r = await new Deno.Command("git", { args, cwd: dir, stdout: "null", stderr: "piped" })
          .output();
        assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      };
      await git("init", "-q", "-b", "main");
      await git("-c", "user.name=t", "-c", "user.email=t@example.test", "add", "-A");
      await git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.test",
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "-m",
        "one",
      );
      for (const tag of ["v1.0.0", "v1.2.3", "v1.2.30", "other"]) await git("tag", tag);
      await fn(join(dir, "infra", "djaploy.toml"), dir, connections);
    });
  });
}

const EMPTY_HOSTS: [string, string][] = [
  ["--hosts=", '""'],
  ["--hosts ,", '","'],
  ["--hosts ' '", '" "'],
  ["--hosts ' , '", '" , "'],
];

for (const command of ["deploy", "configure", "status", "exec", "activate"]) {
  for (const [shown, got] of EMPTY_HOSTS) {
    Deno.test(`cli: ${command} ${shown} names no host: exit 2, no connection`, async () => {
      await withTrappedProject({}, async (config, _dir, connections) => {
        const value = shown === "--hosts=" ? [shown] : ["--hosts", shown.slice(8).slice(1, -1)];
        if (shown === "--hosts ,") value.splice(0, 2, "--hosts", ",");
        const argv = [command, "--config", config, "--env", "test", ...value];
        if (command === "exec") argv.push("--", "true");
        const r = await run(argv);
        assert.equal(r.code, 2, r.err);
        assert.equal(
          r.err.split("\n")[0],
          `error: --hosts names no host: got ${got}`,
        );
        assert.match(r.err, /hint: Give host names separated by commas/);
        assert.equal(connections(), 0);
        assert.doesNotMatch(r.out, /tagged|deployed|notified/);
      });
    });
  }
}

Deno.test("cli: --hosts with an empty name among others is a usage error", async () => {
  await withTrappedProject({}, async (config, _dir, connections) => {
    const r = await run(["deploy", "--config", config, "--env", "test", "--hosts", "web1,"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err.split("\n")[0],
      'error: --hosts has an empty name at position 2: got "web1,"',
    );
    assert.equal(connections(), 0);
  });
});

Deno.test("cli: --host= (single-host commands) names no host", async () => {
  await withTrappedProject({}, async (config, _dir, connections) => {
    const r = await run(["ssh", "--config", config, "--env", "test", "--host="]);
    assert.equal(r.code, 2);
    assert.equal(r.err.split("\n")[0], 'error: --host names no host: got ""');
    assert.equal(connections(), 0);
  });
});

Deno.test("cli: deploy --release with an unknown tag fails before any connection or lock", async () => {
  await withTrappedProject({}, async (config, dir, connections) => {
    const r = await run(["deploy", "--config", config, "--env", "test", "--release", "v1.2.4"]);
    assert.equal(r.code, 2, r.err + r.out);
    assert.equal(
      r.err,
      `error: Unknown tag for --release: "v1.2.4" does not exist in ${dir}: close tags: ` +
        "v1.2.3, v1.0.0, v1.2.30\nhint: Recent tags: " +
        r.err.split("Recent tags: ")[1],
    );
    assert.match(r.err, /hint: Recent tags: (v1\.0\.0|v1\.2\.3|v1\.2\.30|other)/);
    assert.equal(connections(), 0, "ssh connected before the tag was checked");
  });
});

Deno.test("cli: deploy --dry-run lists [prepare] commands and runs none", async () => {
  await withTrappedProject(
    { "infra/djaploy.toml": 'project_name = "hello"\n[prepare]\ncommands = ["touch prepared"]\n' },
    async (config, dir) => {
      // Older artifacts in the cache: a real run would prune all but five.
      const saved = Deno.env.get("DJAPLOY_CACHE_DIR");
      Deno.env.set("DJAPLOY_CACHE_DIR", join(dir, "cache"));
      const artifacts = join(
        await cacheDir({ project_name: "hello", repo_dir: dir } as ProjectConfig),
        "artifacts",
      );
      const old = Array.from({ length: 7 }, (_, i) => `hello-old-${i}`);
      for (const name of old) await Deno.mkdir(join(artifacts, name), { recursive: true });
      let r;
      try {
        r = await run(["deploy", "--config", config, "--env", "test", "--dry-run"]);
      } finally {
        if (saved === undefined) Deno.env.delete("DJAPLOY_CACHE_DIR");
        else Deno.env.set("DJAPLOY_CACHE_DIR", saved);
      }
      assert.match(r.out, /^prepare: would run: touch prepared$/m);
      assert.match(r.out, /^artifact \S+ \(main [0-9a-f]{7}\) ready/m, r.out + r.err);
      for (const name of old) {
        const kept = await Deno.stat(join(artifacts, name)).then(() => true, () => false);
        assert.ok(kept, `a dry run pruned the cached artifact ${name}`);
      }
      const ran = await Deno.stat(join(dir, "prepared")).then(() => true, () => false);
      assert.equal(ran, false, "a dry run ran a [prepare] command on this machine");
    },
  );
});

const BAD_FLAGS: { argv: string[]; err: string }[] = [
  {
    argv: ["deploy", "--env", "te\0st"],
    err: 'error: Arguments must not contain a NUL byte: got "te\\u0000st"',
  },
  {
    argv: ["exec", "--env", "test", "--", "echo", "a\0"],
    err: 'error: Arguments must not contain a NUL byte: got "a\\u0000"',
  },
  {
    argv: ["deploy", "--env=test\nx"],
    err: 'error: --env must not contain control characters (newline, NUL, ...): got "test\\nx"',
  },
  {
    argv: ["deploy", "--release", "v1\x1b[2J"],
    err:
      'error: --release must not contain control characters (newline, NUL, ...): got "v1\\u001b[2J"',
  },
  {
    argv: ["deploy", "--hosts", "web1\x7f"],
    err:
      'error: --hosts must not contain control characters (newline, NUL, ...): got "web1\\u007f"',
  },
  {
    argv: ["deploy", "--parallel", "0"],
    err: 'error: --parallel must be a whole number of 1 or more: got "0"',
  },
  {
    argv: ["deploy", "--parallel", "two"],
    err: 'error: --parallel must be a whole number of 1 or more: got "two"',
  },
  { argv: ["deploy", "--env"], err: "error: --env needs a value: NAME" },
  { argv: ["deploy", "--dry-run=no"], err: 'error: --dry-run takes no value: got "no"' },
];

for (const c of BAD_FLAGS) {
  Deno.test(`cli: bad flag ${JSON.stringify(c.argv.slice(1))} exits 2 and says what is allowed`, async () => {
    const r = await run(c.argv);
    assert.equal(r.code, 2);
    assert.equal(r.err.split("\n")[0], c.err);
  });
}

Deno.test("cli: an unexpected error prints one masked line and no stack; --verbose adds the masked stack", async () => {
  const { reportUnexpected } = await import("../cli.ts");
  const { Ui } = await import("../lib/output/ui.ts");
  for (const verbosity of ["normal", "verbose"] as const) {
    const err: string[] = [];
    const ui = new Ui({ verbosity, color: false, write: () => {}, writeErr: (t) => err.push(t) });
    ui.addSecret("hunter2-secret");
    const bug = new TypeError("cannot read hunter2-secret of undefined");
    assert.equal(reportUnexpected(ui, bug), 1);
    const text = err.join("");
    assert.ok(!text.includes("hunter2-secret"), text);
    assert.match(text, /^error: djaploy failed unexpectedly: TypeError: cannot read \[REDACTED\]/);
    if (verbosity === "normal") {
      assert.doesNotMatch(text, /\n\s+at /, "no stack without --verbose");
      assert.match(text, /hint: This is a bug in djaploy/);
    } else {
      assert.match(text, /\n\s+at /, "--verbose shows the stack");
    }
  }
});

Deno.test("cli: a NUL byte in a config file exits 2 with file and line, no stack", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "infra/djaploy.toml": 'project_name = "hello"\n[env]\nA = "x\0y"\n',
      "infra/inventory/test.toml": '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
    });
    const r = await run(["verify", "--config", join(dir, "infra/djaploy.toml"), "--env", "test"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: .*djaploy\.toml:3: Invalid TOML document: control characters/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  });
});

Deno.test("cli: deploy --max-fail takes a count or a percentage; anything else is a usage error", async () => {
  for (const bad of ["half", "-1", "150%", "1.5"]) {
    const r = await run(["deploy", "--env", "test", `--max-fail=${bad}`]);
    assert.equal(r.code, 2, bad);
    assert.match(
      r.err,
      /^error: --max-fail must be a number of hosts \(0 or more\) or a percentage of the hosts deployed to, such as "25%": got /,
    );
  }
});

Deno.test("cli: deploy --canary takes a number of hosts; anything else is a usage error", async () => {
  for (const bad of ["one", "-1", "1.5", "25%"]) {
    const r = await run(["deploy", "--env", "test", `--canary=${bad}`]);
    assert.equal(r.code, 2, bad);
    assert.match(r.err, /^error: --canary must be a number of hosts \(0 or more\): got /);
  }
});

Deno.test("cli: deploy, configure, activate and rollback take --json; status keeps its own --json", async () => {
  for (const command of ["deploy", "configure", "activate", "rollback"]) {
    const r = await run([command, "--help"]);
    assert.match(r.out, /--json +Print one JSON event per line on stdout/, command);
  }
  assert.match((await run(["status", "--help"])).out, /--json +Print JSON/);
  const events = COMMANDS.filter((c) => c.events).map((c) => c.def.name);
  assert.deepEqual(events, ["configure", "deploy", "activate", "rollback"]);
});
