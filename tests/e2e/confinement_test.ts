/**
 * End to end, units run confined: every unit djaploy writes is rated by
 * `systemd-analyze security` on a real host (gunicorn units at most 3.0, the
 * others at most 4.0), `djaploy verify` prints the ratings, and the app still
 * works inside its sandbox: it serves, writes its database and media, nginx
 * serves what it uploads, and it cannot write its code or djaploy's records.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { djaploy, e2eTest, httpGet, makeProject, type TestHost, withHosts } from "./harness.ts";
import { ok, pageMessage } from "./harness/expect.ts";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import { layoutFor } from "../../lib/host/layout.ts";
import { backupLayout } from "../../lib/backup/layout.ts";
import {
  backupConfinement,
  certbotConfinement,
  drainConfinement,
  litestreamConfinement,
} from "../../lib/host/confinement.ts";
import { hardeningProperties } from "../../templates/hardening.ts";
import { backupService } from "../../templates/backup_units.ts";
import { litestreamUnit } from "../../templates/litestream.ts";
import { renewService } from "../../templates/cert_scripts.ts";
import { CERTS_DIR } from "../../lib/certs/plan.ts";
import { ACME_ROOT } from "../../lib/certs/plan.ts";

const APP = "/home/app/apps/hello";

async function onHost(host: TestHost, cmd: string, stdin?: string): Promise<string> {
  const r = await host.ssh(cmd, { stdin });
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** `systemd-analyze security UNIT`'s overall exposure on the host. */
async function exposure(host: TestHost, unit: string): Promise<number> {
  const out = await onHost(host, `sudo -n systemd-analyze security --no-pager ${unit}`);
  const m = /Overall exposure level for \S+: ([0-9.]+) /.exec(out);
  assert.ok(m, `no rating for ${unit}: ${out.slice(-300)}`);
  return Number(m[1]);
}

async function assertExposure(host: TestHost, unit: string, max: number): Promise<number> {
  const e = await exposure(host, unit);
  assert.ok(e <= max, `${unit}: exposure ${e}, want at most ${max}`);
  return e;
}

/**
 * Runs a Python script as the app user inside a unit's mount namespace (what
 * the unit's processes see) with the unit's umask; prints what it printed.
 */
function inUnit(host: TestHost, unit: string, script: string): Promise<string> {
  return onHost(
    host,
    `pid=$(systemctl show -p MainPID --value ${unit}) && sudo -n nsenter -t "$pid" -m -- ` +
      `setpriv --reuid app --regid app --init-groups sh -c 'umask 027; exec python3 -'`,
    script,
  );
}

const PROBE_PY = `import os
os.makedirs("${APP}/shared/media/uploads/2026", exist_ok=True)
open("${APP}/shared/media/uploads/2026/photo.txt", "w").write("a photo\\n")
for p in ["/home/app/data/probe", "${APP}/shared/media/probe", "${APP}/code/probe",
          "${APP}/current/probe", "${APP}/.djaploy/probe", "${APP}/shared/probe", "/home/app/probe",
          "/etc/probe", "/var/tmp/probe"]:
    try:
        open(p, "w").write("x")
        print("writable", p)
    except OSError:
        print("refused", p)
print("home", sorted(os.listdir("/home/app")))
`;

e2eTest(
  "units run confined: systemd-analyze security at target, verify prints it, the app works",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host] });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "in_place deploy");
      assert.equal(await pageMessage(host), "Hello from djaploy!");
      const scores: Record<string, number> = {};
      scores["hello.service"] = await assertExposure(host, "hello.service", 3.0);

      // The slot strategies: two gunicorn units and the boot unit.
      const toml = await Deno.readTextFile(join(project.dir, "infra/djaploy.toml"));
      await project.write(
        "infra/djaploy.toml",
        toml.replace(/^deployment_strategy = ".*"$/m, 'deployment_strategy = "zero_downtime"'),
      );
      await project.commit("zero_downtime");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "zero_downtime deploy");
      ok(await djaploy(project, ["deploy", "--env", "test", "--force"]), "second deploy");
      for (const unit of ["hello-blue.service", "hello-green.service"]) {
        scores[unit] = await assertExposure(host, unit, 3.0);
      }
      scores["hello-slots.service"] = await assertExposure(host, "hello-slots.service", 4.0);

      // The app inside its sandbox: each request writes a visit to SQLite.
      const first = await httpGet(`http://${host.ip}/`);
      const second = await httpGet(`http://${host.ip}/`);
      assert.equal(second.status, 200);
      const visits = (b: string) => Number(/Visits so far: (\d+)/.exec(b)?.[1]);
      assert.equal(visits(second.body), visits(first.body) + 1, "the app writes its database");
      const live = (await onHost(host, `readlink /run/djaploy/hello.sock`)).split("/")[2];
      // The old slot was stopped by the confined drain unit (systemd-run, in the background).
      const old = live === "hello-blue" ? "hello-green" : "hello-blue";
      let state = "";
      for (let i = 0; i < 50 && state !== "inactive"; i++) {
        if (i) await new Promise((r) => setTimeout(r, 200));
        state = (await host.ssh(`systemctl is-active ${old}.service`)).stdout.trim();
      }
      assert.equal(state, "inactive", `the drain unit stops ${old}.service`);
      const probe = await inUnit(host, `${live}.service`, PROBE_PY);
      const writable = [...probe.matchAll(/^writable (\S+)$/gm)].map((m) => m[1]);
      assert.deepEqual(writable, [
        "/home/app/data/probe",
        `${APP}/shared/media/probe`,
        "/var/tmp/probe", // PrivateTmp: the unit's own
      ]);
      assert.match(probe, /^home \['apps', 'data'\]$/m, "the rest of the home is hidden");
      // Made with umask 0027 by the app: nginx still reads it (media's default ACL).
      const photo = await httpGet(`http://${host.ip}/media/uploads/2026/photo.txt`);
      assert.equal(photo.status, 200, "nginx serves a file the app uploaded into a new folder");
      assert.equal(photo.body, "a photo\n");

      // verify rates every unit in the round trip it already makes.
      const verify = await djaploy(project, ["verify", "--env", "test"]);
      ok(verify, "verify");
      for (const unit of ["hello-blue.service", "hello-green.service", "hello-slots.service"]) {
        const target = unit === "hello-slots.service" ? "4.0" : "3.0";
        assert.match(
          verify.output,
          new RegExp(
            `^web-1 +sudo and tools: ${unit} exposure ${
              scores[unit].toFixed(1)
            } \\w+ \\(target <= ${target}\\)$`,
            "m",
          ),
        );
      }

      // The other units, as their modules write them for this host: rated in place.
      const loaded = await loadProject({ cwd: project.dir });
      const config = (await loadEnvironment(loaded, "test")).hosts[0];
      const layout = layoutFor(config);
      const b = backupLayout(config, layout, "rclone");
      const others: Record<string, string> = {
        [b.serviceName]: backupService({
          appName: "hello",
          backend: "rclone",
          exec: ["/usr/bin/python3", "/usr/local/lib/djaploy/backup.py", "run", b.settingsFile],
          schedule: "0 3 * * *",
          onCalendar: "*-*-* 03:00:00",
          user: "app",
          credentials: [],
          confinement: backupConfinement(config, layout, {
            backend: "rclone",
            stagingDir: b.stagingDir,
            userHome: layout.homeDir,
          }),
        }),
        "litestream.service": litestreamUnit({
          appUser: "app",
          binary: "/usr/local/bin/litestream",
          config: "/etc/litestream.yml",
          confinement: litestreamConfinement(config, layout),
        }),
        "djaploy-certbot-renew.service": renewService({
          confinement: certbotConfinement(config, { acmeRoot: ACME_ROOT, certsDir: CERTS_DIR }),
        }),
      };
      for (const [unit, text] of Object.entries(others)) {
        await onHost(host, `sudo -n tee /etc/systemd/system/${unit} >/dev/null`, text);
      }
      await onHost(host, "sudo -n systemctl daemon-reload");
      for (const unit of Object.keys(others)) scores[unit] = await assertExposure(host, unit, 4.0);
      // The drain unit is transient and gone in a moment: rate one with its properties.
      const props = hardeningProperties("drain", drainConfinement(config)).map((a) =>
        a === "-p" ? a : `'${a}'`
      );
      await onHost(
        host,
        `sudo -n systemd-run --quiet --collect --unit=djaploy-drain-probe.service ${
          props.join(" ")
        } sleep 30`,
      );
      scores["djaploy-drain-*.service"] = await assertExposure(host, "djaploy-drain-probe", 4.0);
      // deno-lint-ignore no-console
      console.log(
        `systemd-analyze security: ${
          Object.entries(scores).map(([u, s]) => `${u} ${s.toFixed(1)}`).join(", ")
        }`,
      );
    });
  },
);
