/**
 * `[tailscale] cert = true` with the certs module: the node's `tailscale cert`
 * certificate goes through the certs module's staging, apply (nginx -t,
 * restore on failure) and wait into /etc/djaploy/certs/<tailnet name>/ and
 * the HTTPS site. tailscale cannot be installed here: the commands are
 * recorded, and the scripts run with a stand-in `tailscale`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, UserError } from "../../lib/errors.ts";
import { modulePlanParts } from "../../lib/engine/runner.ts";
import type { RemoteCommand } from "../../lib/exec/remote_command.ts";
import type { HostPlan } from "../../lib/engine/runner.ts";
import { noteValue, type ReleaseInfo } from "../../lib/engine/module_api.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { certificateHosts, hasTailnetCertificate } from "../../lib/certs/plan.ts";
import { hostsToInstall, needsAcme } from "../../lib/commands/certs.ts";
import certsModule from "../../modules/certs/mod.ts";
import { FROM_LINEAGE, httpsProbes, httpsStep, INCOMING_CERTS } from "../../lib/certs/https.ts";
import tailscaleModule from "../../modules/tailscale/mod.ts";
import { CERT_DIR, CERT_SH } from "../../lib/certs/tailnet.ts";
import {
  APPLY_SH,
  APPLY_TEST_FAILED,
  STAGE_COPY_SH,
  STAGE_LINK_SH,
  STAGE_SH,
  WAIT_SERVED_SH,
} from "../../templates/cert_scripts.ts";
import {
  factsStdout,
  isFactsCommand,
  type LoadedProject,
  loadTestProject,
  type ProbeAnswer,
  sh,
  sha256hex,
  withTempDir,
  writeFiles,
  writtenFiles,
} from "../helpers/fixtures.ts";
import { runRecorded } from "../helpers/plans.ts";

const NAME = "web-1.tailnet-abc.ts.net";
const STATUS = JSON.stringify({ BackendState: "Running", Self: { DNSName: `${NAME}.` } });
const CHAIN = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n";
const MODULES = '["core", "nginx", "systemd", "tailscale", "certs"]';
const SITE = "/etc/nginx/sites-available/hello-tls.conf";
const REDIRECT = "/etc/nginx/djaploy.d/hello/https-redirect.conf";
const ENABLED = "/etc/nginx/sites-enabled/hello-tls.conf";
const CERT = `/etc/djaploy/certs/${NAME}`;

function toml(opts: { modules?: string; cert?: boolean; extra?: string } = {}): string {
  return `project_name = "hello"
modules = ${opts.modules ?? MODULES}

[tailscale]
auth_key = "env:TS_KEY"
cert = ${opts.cert ?? true}
${opts.extra ?? ""}`;
}

const ACME_DOMAIN = `
[certificates]
email = "ops@example.com"
issue_on = "controller"

[[certificates.domains]]
name = "example.com"
`;

/** As sync-certs and renew-certs plan a host. */
function syncPlan(loaded: LoadedProject): HostPlan {
  return { ...modulePlanParts([certsModule], loaded.host), steps: [httpsStep] };
}

const NO_CERTS: ProbeAnswer = { out: "@@djaploy-certs hashes\n" };
const installed: ProbeAnswer = {
  out: `@@djaploy-certs cert ${NAME}\n${CHAIN}@@djaploy-certs hashes\n` +
    `@@djaploy-certs link ${SITE}\n`,
};

/** The commands after the facts, by the script they run. */
function commands(recorded: readonly { command?: RemoteCommand }[]): RemoteCommand[] {
  return recorded.map((r) => r.command!).filter((c) => !isFactsCommand(c));
}
const runs = (c: RemoteCommand, script: string) => c.argv[0] === "sh" && c.argv[2] === script;
const kind = (c: RemoteCommand) =>
  c.argv[0] !== "sh" ? c.argv.join(" ") : (
    [
      [CERT_SH, "tailscale cert"],
      [STAGE_COPY_SH, "stage copy"],
      [STAGE_SH, "stage"],
      [STAGE_LINK_SH, "stage link"],
      [APPLY_SH, "apply"],
      [WAIT_SERVED_SH, "wait served"],
    ] as const
  ).find(([s]) => s === c.argv[2])?.[1] ?? "other";

/** Answers STAGE_COPY_SH like the server would when the files differ: "staged". */
const staged = (cmd: RemoteCommand) =>
  runs(cmd, STAGE_COPY_SH) ? { stdout: "staged\n" } : undefined;

Deno.test("sync-certs: tailscale cert's files are staged into /etc/djaploy/certs/<tailnet name>/, the HTTPS site serves the tailnet name, all applied with nginx -t", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml());
    const run = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      notes: [noteValue(FROM_LINEAGE, true)],
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: STATUS } }),
      respond: staged,
    });
    assert.ok(run.result.ok, String(run.result.error));
    const cmds = commands(run.exec.recorded);
    assert.deepEqual(cmds.map(kind), [
      "tailscale cert",
      "stage copy",
      "stage",
      "stage",
      "stage link",
      "apply",
      "wait served",
    ]);
    const [fetch, copy] = cmds;
    assert.deepEqual(fetch.argv.slice(4), [CERT_DIR, NAME]);
    assert.equal(fetch.as, "root");
    assert.match(
      CERT_SH,
      /tailscale cert --cert-file "\$1\/\$2\.crt" --key-file "\$1\/\$2\.key" "\$2"/,
    );
    assert.deepEqual(copy.argv.slice(4), [
      `/etc/djaploy/tailscale/${NAME}.crt`,
      `/etc/djaploy/tailscale/${NAME}.key`,
      CERT,
    ]);
    // Applied together: the certificate, the site, the redirect, the link; restored together.
    assert.deepEqual(cmds.find((c) => runs(c, APPLY_SH))!.argv.slice(4), [
      `${CERT}/fullchain.pem`,
      `${CERT}/privkey.pem`,
      SITE,
      REDIRECT,
      ENABLED,
    ]);
    const files = writtenFiles(run.exec.recorded);
    const site = files.get(SITE)!;
    assert.match(site, new RegExp(`\\n {4}server_name ${NAME.replaceAll(".", "\\.")};\\n`));
    assert.match(site, new RegExp(`ssl_certificate ${CERT}/fullchain\\.pem;`));
    assert.match(site, new RegExp(`ssl_certificate_key ${CERT}/privkey\\.pem;`));
    assert.doesNotMatch(site, /Strict-Transport-Security/);
    assert.equal((site.match(/^server \{$/gm) ?? []).length, 1);
    assert.ok(files.get(REDIRECT)!.includes(NAME.replaceAll(".", "\\.")), files.get(REDIRECT));
    assert.deepEqual(cmds.at(-1)!.argv.slice(4), [NAME, `${CERT}/fullchain.pem`]);
    assert.ok(
      run.result.steps.flatMap((s) => s.changes).includes(`certificate ${NAME} (tailscale)`),
    );
    // The tailnet name came from the tailscale probe the certs module declares.
    assert.ok(httpsProbes(loaded.host).some((p) => p.name === "tailscale"));
  });
});

Deno.test("sync-certs: tailscale cert unchanged: nothing staged, nothing reloaded", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml());
    const first = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: STATUS } }),
      respond: staged,
    });
    const files = writtenFiles(first.exec.recorded);
    const again = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      facts: factsStdout({
        certs: {
          out: `@@djaploy-certs cert ${NAME}\n${CHAIN}@@djaploy-certs hashes\n` +
            `${sha256hex(files.get(SITE)!)}  ${SITE}\n${
              sha256hex(files.get(REDIRECT)!)
            }  ${REDIRECT}\n` +
            `@@djaploy-certs link ${SITE}\n`,
        },
        tailscale: { out: STATUS },
      }),
      respond: (cmd) => runs(cmd, STAGE_COPY_SH) ? { stdout: "present\n" } : undefined,
    });
    assert.ok(again.result.ok, String(again.result.error));
    // tailscale cert still runs (it renews when due), then finds nothing to install.
    assert.deepEqual(commands(again.exec.recorded).map(kind), ["tailscale cert", "stage copy"]);
    assert.deepEqual(again.result.steps.flatMap((s) => s.changes), []);
  });
});

Deno.test("sync-certs: nginx -t fails with the tailscale certificate: the step fails, saying the old files serve on", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml());
    const run = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: STATUS } }),
      respond: (cmd) =>
        runs(cmd, APPLY_SH)
          ? { code: APPLY_TEST_FAILED, stderr: "nginx: [emerg] cannot load certificate" }
          : staged(cmd),
    });
    assert.equal(run.result.ok, false);
    assert.equal(run.result.failedStep, "https");
    assert.match(String(run.result.error), /nginx -t failed with the new files/);
    assert.ok(!commands(run.exec.recorded).some((c) => runs(c, WAIT_SERVED_SH)));
  });
});

Deno.test("configure: tailscale's step fetches the certificate once (asking for the name right after joining); the certs step installs it", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml());
    const certStep = tailscaleModule.steps!.configure!.find((s) => s.name === "tailscale cert")!;
    const plan: HostPlan = {
      ...modulePlanParts([tailscaleModule, certsModule], loaded.host),
      steps: [certStep, httpsStep],
    };
    const run = await runRecorded({
      loaded,
      plan,
      // Not joined yet when the facts were gathered.
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: "missing\n" } }),
      respond: (cmd) =>
        cmd.argv.join(" ") === "tailscale status --json" ? { stdout: STATUS } : staged(cmd),
    });
    assert.ok(run.result.ok, String(run.result.error));
    const cmds = commands(run.exec.recorded);
    assert.deepEqual(cmds.slice(0, 3).map(kind), [
      "tailscale status --json",
      "tailscale cert",
      "stage copy",
    ]);
    assert.equal(cmds.filter((c) => runs(c, CERT_SH)).length, 1, "tailscale cert runs once");
    assert.deepEqual(cmds[2].argv.slice(4).at(-1), CERT);
    assert.match(writtenFiles(run.exec.recorded).get(SITE)!, new RegExp(`server_name ${NAME};`));
  });
});

Deno.test("deploy: an installed tailscale certificate is served as it is; a missing one is fetched", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml());
    const release: ReleaseInfo = {
      name: "20250101T000000-abc1234",
      artifactDir: dir,
      commit: "abc1234",
      ref: "main",
      tree: "t",
    };
    const plan = { ...modulePlanParts([certsModule], loaded.host), steps: [httpsStep] };
    const present = await runRecorded({
      loaded,
      plan,
      release,
      facts: factsStdout({ certs: installed, tailscale: { out: STATUS } }),
    });
    assert.ok(present.result.ok, String(present.result.error));
    const cmds = commands(present.exec.recorded);
    assert.ok(!cmds.some((c) => runs(c, CERT_SH) || runs(c, STAGE_COPY_SH)), "no tailscale cert");
    // The site (missing from the facts' hashes) is written for the installed certificate.
    assert.match(
      writtenFiles(present.exec.recorded).get(SITE)!,
      new RegExp(`server_name ${NAME};`),
    );

    const missing = await runRecorded({
      loaded,
      plan,
      release,
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: STATUS } }),
      respond: staged,
    });
    assert.ok(missing.result.ok, String(missing.result.error));
    assert.deepEqual(commands(missing.exec.recorded).slice(0, 2).map(kind), [
      "tailscale cert",
      "stage copy",
    ]);
  });
});

Deno.test("hosts without a tailscale certificate are unaffected", async () => {
  await withTempDir(async (dir) => {
    // cert = false: the ACME certificate alone, no tailscale command, no tailscale probe.
    const loaded = await loadTestProject(dir, toml({ cert: false, extra: ACME_DOMAIN }));
    assert.equal(hasTailnetCertificate(loaded.host), false);
    assert.deepEqual(httpsProbes(loaded.host).map((p) => p.name), ["certs"]);
    const run = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      notes: [
        noteValue(
          INCOMING_CERTS,
          new Map([["example.com", { fullchain: CHAIN, privkey: new Secret(KEY) }]]),
        ),
      ],
      facts: factsStdout({ certs: NO_CERTS }),
    });
    assert.ok(run.result.ok, String(run.result.error));
    const cmds = commands(run.exec.recorded);
    assert.ok(!cmds.some((c) => c.argv.some((a) => a.includes("tailscale"))));
    const site = writtenFiles(run.exec.recorded).get(SITE)!;
    assert.match(site, /server_name example\.com;/);
    assert.doesNotMatch(site, /ts\.net/);
  });
  await withTempDir(async (dir) => {
    // cert = true without the certs module: tailscale's files only, no HTTPS site.
    const loaded = await loadTestProject(
      dir,
      toml({ modules: '["core", "nginx", "systemd", "tailscale"]' }),
    );
    assert.equal(hasTailnetCertificate(loaded.host), false);
    assert.deepEqual(certificateHosts(loaded.env, loaded.env.hosts), []);
    const run = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      facts: factsStdout({ certs: NO_CERTS }),
    });
    assert.ok(run.result.ok, String(run.result.error));
    assert.deepEqual(commands(run.exec.recorded), [], "the https step has nothing to do");
  });
});

Deno.test("an ACME domain and the tailnet name on one host: one server block each; the same name twice is refused", async () => {
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(dir, toml({ extra: ACME_DOMAIN }));
    const run = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      notes: [
        noteValue(
          INCOMING_CERTS,
          new Map([["example.com", { fullchain: CHAIN, privkey: new Secret(KEY) }]]),
        ),
      ],
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: STATUS } }),
      respond: staged,
    });
    assert.ok(run.result.ok, String(run.result.error));
    const site = writtenFiles(run.exec.recorded).get(SITE)!;
    const blocks = site.split(/\n(?=server \{)/).filter((b) => b.startsWith("server"));
    assert.equal(blocks.length, 2);
    assert.match(blocks[0], /server_name example\.com;/);
    assert.match(blocks[1], new RegExp(`server_name ${NAME};[\\s\\S]*ssl_certificate ${CERT}/`));
    assert.deepEqual(
      commands(run.exec.recorded).find((c) => runs(c, WAIT_SERVED_SH))!.argv.slice(4),
      [
        "example.com",
        "/etc/djaploy/certs/example.com/fullchain.pem",
        NAME,
        `${CERT}/fullchain.pem`,
      ],
    );
  });
  await withTempDir(async (dir) => {
    const loaded = await loadTestProject(
      dir,
      toml({ extra: ACME_DOMAIN.replace('"example.com"', `"${NAME}"`) }),
    );
    const run = await runRecorded({
      loaded,
      plan: syncPlan(loaded),
      facts: factsStdout({ certs: NO_CERTS, tailscale: { out: STATUS } }),
      respond: staged,
    });
    assert.equal(run.result.ok, false);
    assert.ok(run.result.error instanceof UserError);
    assert.match(
      (run.result.error as Error).message,
      new RegExp(`^certificates\\.domains\\[0\\] names ${NAME}, the tailnet name of web1`),
    );
    assert.ok(!commands(run.exec.recorded).some((c) => runs(c, APPLY_SH)), "nothing applied");
  });
});

Deno.test("tailscale certificate config error: certs listed before tailscale names the file and key", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      loadTestProject(dir, toml({ modules: '["core", "nginx", "systemd", "certs", "tailscale"]' })),
      (e) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(
          e.message,
          'infra/djaploy.toml: modules: must list "tailscale" before "certs" for host "web1", ' +
            "whose [tailscale] cert = true has the certs module serve the node's tailscale " +
            'certificate (tailscale must be up first): got ["core", "nginx", "systemd", "certs", ' +
            '"tailscale"]',
        );
        assert.equal(e.hint, 'modules = ["core", "nginx", "systemd", "tailscale", "certs"]');
        return true;
      },
    );
  });
  await withTempDir(async (dir) => {
    await assert.rejects(
      loadTestProject(
        dir,
        toml(),
        '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n' +
          'modules = ["nginx", "certs", "tailscale"]\n',
      ),
      (e) =>
        e instanceof ConfigError &&
        e.message.startsWith(
          'infra/inventory/test.toml: hosts[0].modules: must list "tailscale" before "certs"',
        ),
    );
  });
  await withTempDir(async (dir) => {
    // The same order without cert = true is fine.
    const loaded = await loadTestProject(
      dir,
      toml({ cert: false, modules: '["core", "nginx", "systemd", "certs", "tailscale"]' }),
    );
    assert.equal(loaded.host.tailscale.cert, false);
  });
});

Deno.test("renew-certs and sync-certs: which hosts refresh and install a tailscale certificate", async () => {
  const inventory = `[[hosts]]
name = "web-1"
ssh_hostname = "10.0.0.1"
tailscale = { cert = true }

[[hosts]]
name = "web-2"
ssh_hostname = "10.0.0.2"

[[hosts]]
name = "web-3"
ssh_hostname = "10.0.0.3"
`;
  const names = (hosts: readonly { name: string }[]) => hosts.map((h) => h.name);
  await withTempDir(async (dir) => {
    const server = ACME_DOMAIN.replace('issue_on = "controller"', 'issue_on = "server"') +
      'hosts = ["web-2"]\n';
    const { env } = await loadTestProject(dir, toml({ cert: false, extra: server }), inventory);
    assert.equal(needsAcme(env, env.hosts), true);
    assert.deepEqual(names(certificateHosts(env, env.hosts)), ["web-1", "web-2"]);
    // certbot's run reached web-2 only: web-1 refreshes its tailscale certificate afterwards.
    assert.deepEqual(names(hostsToInstall(env, env.hosts, ["web-2"])), ["web-1"]);
    assert.deepEqual(names(hostsToInstall(env, env.hosts, ["web-1", "web-2"])), []);
  });
  await withTempDir(async (dir) => {
    const { env } = await loadTestProject(
      dir,
      toml({ cert: false, extra: ACME_DOMAIN + 'hosts = ["web-2"]\n' }),
      inventory,
    );
    assert.deepEqual(names(hostsToInstall(env, env.hosts, [])), ["web-1", "web-2"]);
  });
  await withTempDir(async (dir) => {
    // Only tailscale certificates: no ACME (no email, no domains needed), web-1 installs.
    const { env } = await loadTestProject(dir, toml({ cert: false }), inventory);
    assert.equal(needsAcme(env, env.hosts), false);
    assert.deepEqual(names(hostsToInstall(env, env.hosts, [])), ["web-1"]);
    assert.equal(needsAcme(env, env.hosts.filter((h) => h.name !== "web-1")), true);
  });
});

Deno.test("CERT_SH and STAGE_COPY_SH on a real shell: key 0600 throughout, staged once, then present", async () => {
  await withTempDir(async (dir) => {
    // A stand-in tailscale that writes what `tailscale cert` writes, with the process's umask.
    await writeFiles(dir, {
      "bin/tailscale":
        `#!/bin/sh\necho "$*" > "${dir}/args"\nprintf 'CHAIN\\n' > "$3"\nprintf 'KEY\\n' > "$5"\nstat -c %a "$5" > "${dir}/key-mode-at-write"\n`,
    });
    await sh('chmod +x "$1"', [join(dir, "bin/tailscale")]);
    const env = { PATH: `${dir}/bin:/usr/bin:/bin` };
    const tsDir = join(dir, "tailscale");
    const fetch = await sh(CERT_SH, [tsDir, NAME], { env });
    assert.equal(fetch.code, 0, fetch.stderr);
    assert.equal(
      (await Deno.readTextFile(join(dir, "args"))).trim(),
      `cert --cert-file ${tsDir}/${NAME}.crt --key-file ${tsDir}/${NAME}.key ${NAME}`,
    );
    assert.equal((await Deno.readTextFile(join(dir, "key-mode-at-write"))).trim(), "600");
    const mode = async (p: string) => (await sh('stat -c %a "$1"', [p])).stdout.trim();
    assert.equal(await mode(join(tsDir, `${NAME}.crt`)), "644");
    assert.equal(await mode(join(tsDir, `${NAME}.key`)), "600");

    const certs = join(dir, "certs", NAME);
    const copy = (cert = `${tsDir}/${NAME}.crt`) =>
      sh(STAGE_COPY_SH, [cert, `${tsDir}/${NAME}.key`, certs], { env });
    const first = await copy();
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "staged\n");
    assert.equal(await Deno.readTextFile(join(certs, "fullchain.pem.djaploy-new")), "CHAIN\n");
    assert.equal(await Deno.readTextFile(join(certs, "privkey.pem.djaploy-new")), "KEY\n");
    assert.equal(await mode(join(certs, "fullchain.pem.djaploy-new")), "644");
    assert.equal(await mode(join(certs, "privkey.pem.djaploy-new")), "600");
    // As APPLY_SH puts them in place:
    for (const f of ["fullchain.pem", "privkey.pem"]) {
      await Deno.rename(join(certs, `${f}.djaploy-new`), join(certs, f));
    }
    assert.equal((await copy()).stdout, "present\n");
    // A renewed certificate is staged again; no source file: nothing, success.
    await Deno.writeTextFile(join(tsDir, `${NAME}.crt`), "RENEWED\n");
    assert.equal((await copy()).stdout, "staged\n");
    const none = await copy(join(dir, "missing.crt"));
    assert.deepEqual([none.code, none.stdout], [0, ""]);
  });
});
