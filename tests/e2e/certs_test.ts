/**
 * End to end, against a real ACME server: Let's Encrypt's pebble and
 * pebble-challtestsrv (scripts/pebble.sh) on this machine, certbot run by
 * djaploy, and a real Debian host whose nginx answers HTTP-01. Bunny DNS is
 * the one stand-in: a local HTTP server speaking Bunny's API, which puts the
 * TXT records into pebble-challtestsrv's DNS.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { join } from "node:path";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  httpGet,
  makeProject,
  TEST_SECRET,
  type TestHost,
  withHosts,
} from "./harness.ts";
import { run } from "./harness/run.ts";
import { REPO } from "./harness/environment.ts";

const PEBBLE = join(REPO, "scripts/pebble.sh");
const BUNNY_KEY = "bunny-test-key-5e0c1d9a7f";
const APP = "app.example.test";
const DNS_NAME = "dns.example.test";

interface Pebble {
  readonly dir: string;
  readonly caBundle: string;
  /** The root that signs issued certificates (changes on every start). */
  root(): Promise<string>;
  /** Points a name's A record at an address (pebble-challtestsrv). */
  setA(name: string, ip: string): Promise<void>;
  stop(): Promise<void>;
}

async function startPebble(ip: string): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "djaploy-pebble-" });
  const env = { ...Deno.env.toObject(), DJAPLOY_PEBBLE_DIR: dir };
  const r = await run("bash", [PEBBLE, "start", ip], { env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `pebble.sh start: ${r.output}`);
  return {
    dir,
    caBundle: join(dir, "ca.pem"),
    async root() {
      const root = await run("bash", [PEBBLE, "root"], { env });
      assert.equal(root.code, 0, root.output);
      return root.stdout;
    },
    async setA(name, address) {
      const res = await fetch("http://127.0.0.1:8055/add-a", {
        method: "POST",
        body: JSON.stringify({ host: `${name}.`, addresses: [address] }),
      });
      await res.body?.cancel();
      assert.equal(res.status, 200);
    },
    async stop() {
      await run("bash", [PEBBLE, "stop"], { env });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A stand-in for Bunny DNS's API (zones, add and delete records) backed by challtestsrv. */
function bunnyStandIn() {
  const calls: string[] = [];
  const records = new Map<number, { name: string; value: string }>();
  let next = 1;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    calls.push(`${req.method} ${url.pathname}`);
    if (req.headers.get("AccessKey") !== BUNNY_KEY) {
      return Response.json({ ErrorKey: "unauthorized", Message: "Bad AccessKey" }, { status: 401 });
    }
    if (req.method === "GET" && url.pathname === "/dnszone") {
      return Response.json({
        Items: [{ Id: 7, Domain: "other.test" }, { Id: 42, Domain: "example.test" }],
        CurrentPage: 1,
        TotalItems: 2,
        HasMoreItems: false,
      });
    }
    const add = /^\/dnszone\/42\/records$/.exec(url.pathname);
    if (req.method === "PUT" && add) {
      const body = await req.json() as { Type: number; Name: string; Value: string; Ttl: number };
      assert.equal(body.Type, 3, "a TXT record");
      const id = next++;
      records.set(id, { name: body.Name, value: body.Value });
      const res = await fetch("http://127.0.0.1:8055/set-txt", {
        method: "POST",
        body: JSON.stringify({ host: `${body.Name}.example.test.`, value: body.Value }),
      });
      await res.body?.cancel();
      return Response.json({ Id: id, Type: 3, Name: body.Name, Value: body.Value, Ttl: body.Ttl });
    }
    const del = /^\/dnszone\/42\/records\/(\d+)$/.exec(url.pathname);
    if (req.method === "DELETE" && del && records.has(Number(del[1]))) {
      const record = records.get(Number(del[1]))!;
      records.delete(Number(del[1]));
      const res = await fetch("http://127.0.0.1:8055/clear-txt", {
        method: "POST",
        body: JSON.stringify({ host: `${record.name}.example.test.` }),
      });
      await res.body?.cancel();
      return new Response(null, { status: 204 });
    }
    return Response.json({ Message: "not found" }, { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    calls,
    records,
    stop: () => server.shutdown(),
  };
}

/** The certificate a host serves for a name (TLS with SNI), checked against `ca`. */
function servedCert(ip: string, name: string, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: ip, port: 443, servername: name, ca }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      if (!socket.authorized) reject(new Error(`not trusted: ${socket.authorizationError}`));
      else resolve(cert);
    });
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
  });
}

function config(opts: {
  pebble: Pebble;
  store: string;
  notified: string;
  bunny: string;
  renewBeforeDays: number;
}): string {
  return `[certificates]
email = "ops@example.test"
acme_directory = "https://127.0.0.1:14000/dir"
acme_ca_bundle = ${JSON.stringify(opts.pebble.caBundle)}
renew_before_days = ${opts.renewBeforeDays}
store = ${JSON.stringify(opts.store)}
issue_on = "controller"
pregenerate_certificates = true
notify_command = ${JSON.stringify(`cat > ${opts.notified}`)}

[[certificates.domains]]
name = "${APP}"
alt_names = ["www.example.test"]

[[certificates.domains]]
name = "${DNS_NAME}"
challenge = "dns"
dns_provider = "bunny"
credentials = { api_key = "env:BUNNY_API_KEY", api_url = "${opts.bunny}", propagation_seconds = "0" }
`;
}

async function onHost(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

e2eTest(
  "certificates: issue with pebble (HTTP-01 and DNS-01 via Bunny), sync, renew from cron, fail safely",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const pebble = await startPebble(host.ip);
      const bunny = bunnyStandIn();
      try {
        const root = await Deno.makeTempDir({ prefix: "djaploy-certs-e2e-" });
        const store = join(root, "store");
        const notified = join(root, "notified.txt");
        const settings = { pebble, store, notified, bunny: bunny.url };
        const project = await makeProject({
          hosts: [host],
          modules: ["core", "nginx", "systemd", "certs"],
          config: config({ ...settings, renewBeforeDays: 30 }),
        });
        const outputs: string[] = [];
        const dj = async (args: string[]): Promise<DjaployResult> => {
          const r = await djaploy(project, args, { env: { BUNNY_API_KEY: BUNNY_KEY } });
          outputs.push(r.output);
          return r;
        };
        const ok = (r: DjaployResult, what: string) =>
          assert.equal(r.code, 0, `${what}:\n${r.output}`);
        const setRenewBefore = (days: number) =>
          project.write(
            "infra/djaploy.toml",
            (Deno.readTextFileSync(join(project.infraDir, "djaploy.toml")))
              .replace(/^renew_before_days = \d+$/m, `renew_before_days = ${days}`),
          );

        // configure: self-signed stand-ins (pregenerate_certificates), so nginx serves HTTPS at once.
        ok(await dj(["configure", "--env", "test"]), "configure");
        ok(await dj(["deploy", "--env", "test"]), "deploy");
        const selfSigned = await onHost(
          host,
          `sudo -n openssl x509 -in /etc/djaploy/certs/${APP}/fullchain.pem -noout -issuer`,
        );
        assert.match(selfSigned, new RegExp(`CN ?= ?${APP.replaceAll(".", "\\.")}`));

        // (1) and (2): issue both with the real ACME server, then install them.
        const update = await dj(["update-certs", "--env", "test"]);
        ok(update, "update-certs");
        assert.match(update.output, new RegExp(`${APP}: issued \\(no certificate yet\\)`));
        assert.match(update.output, new RegExp(`${DNS_NAME}: issued`));
        assert.ok(
          bunny.calls.includes("PUT /dnszone/42/records"),
          "the TXT record went through Bunny's API",
        );
        assert.ok(
          bunny.calls.some((c) => c.startsWith("DELETE /dnszone/42/records/")),
          "and was removed",
        );
        assert.equal(bunny.records.size, 0);
        const sync = await dj(["sync-certs", "--env", "test"]);
        ok(sync, "sync-certs");
        assert.match(sync.output, /changed/);

        const pebbleRoot = await pebble.root();
        const rootFile = join(root, "pebble-root.pem");
        await Deno.writeTextFile(rootFile, pebbleRoot);
        const curl = await run("curl", [
          "-sS",
          "--cacert",
          rootFile,
          "--resolve",
          `${APP}:443:${host.ip}`,
          "-w",
          "\n%{http_code}",
          `https://${APP}/`,
        ]);
        assert.equal(curl.code, 0, curl.output);
        assert.match(curl.stdout, /Hello from djaploy!/);
        assert.match(curl.stdout, /\n200$/);
        const first = await servedCert(host.ip, APP, pebbleRoot);
        assert.match(first.subjectaltname ?? "", /DNS:www\.example\.test/);
        const storedPem = await Deno.readTextFile(join(store, "certbot/live", APP, "cert.pem"));
        assert.equal(
          first.serialNumber.toUpperCase().replace(/^0+/, ""),
          new (await import("node:crypto")).X509Certificate(storedPem).serialNumber.toUpperCase()
            .replace(/^0+/, ""),
          "the host serves the issued certificate",
        );
        const dnsCert = await servedCert(host.ip, DNS_NAME, pebbleRoot);
        assert.match(dnsCert.subjectaltname ?? "", /DNS:dns\.example\.test/);
        const redirect = await httpGet(`http://${host.ip}/some/page?x=1`, { host: APP });
        assert.equal(redirect.status, 301);
        assert.equal(redirect.headers.location, `https://${APP}/some/page?x=1`);
        const challenge = await httpGet(`http://${host.ip}/.well-known/acme-challenge/nothing`, {
          host: APP,
        });
        assert.equal(challenge.status, 404, "ACME challenges stay on HTTP");

        // (5) the key on the server: 0600 root, unreadable by the app user.
        assert.equal(
          await onHost(host, `sudo -n stat -c '%a %U %G' /etc/djaploy/certs/${APP}/privkey.pem`),
          "600 root root",
        );
        assert.equal(
          await onHost(host, `sudo -n stat -c '%a' /etc/djaploy/certs/${APP}/fullchain.pem`),
          "644",
        );
        const asApp = await host.ssh(`sudo -n -u app cat /etc/djaploy/certs/${APP}/privkey.pem`);
        assert.notEqual(asApp.code, 0, "the app user cannot read the key");

        // (3) cron: nothing due and everything installed: silent, exit 0, twice.
        for (const i of [1, 2]) {
          const quiet = await dj(["renew-certs", "--env", "test"]);
          assert.equal(quiet.code, 0, quiet.output);
          assert.equal(quiet.output, "", `renew-certs run ${i} printed something`);
        }

        // Near expiry (pebble's certificates last 5 years: renew 10 years ahead makes them due):
        // renewed and served, with HTTPS requests going on all the while.
        await setRenewBefore(3650);
        let stop = false;
        let requests = 0;
        const failures: string[] = [];
        const load = (async () => {
          while (!stop) {
            try {
              const r = await httpGet(`https://${host.ip}/health/`, { host: APP, ca: pebbleRoot });
              if (r.status !== 200) failures.push(`status ${r.status}`);
            } catch (err) {
              failures.push(String(err));
            }
            requests++;
          }
        })();
        const renew = await dj(["renew-certs", "--env", "test"]);
        stop = true;
        await load;
        ok(renew, "renew-certs (due)");
        const lines = renew.output.trim().split("\n");
        assert.equal(lines.length, 1, `one summary line: ${renew.output}`);
        assert.match(
          lines[0],
          /^renew-certs test: renewed app\.example\.test .*; installed on web-1$/,
        );
        const second = await servedCert(host.ip, APP, pebbleRoot);
        assert.notEqual(
          second.serialNumber,
          first.serialNumber,
          "the host serves the new certificate",
        );
        assert.ok(requests > 5, `requests during renewal: ${requests}`);
        assert.deepEqual(failures, [], "no request failed during renewal");

        // (4) an ACME failure: the name now points where nothing answers HTTP-01.
        await pebble.setA(APP, host.ip.replace(/\.2$/, ".1"));
        const failed = await dj(["renew-certs", "--env", "test"]);
        assert.equal(failed.code, 1, failed.output);
        assert.match(
          failed.output,
          new RegExp(
            `Issue the certificate for ${
              APP.replaceAll(".", "\\.")
            }: .*(Connection refused|connection)`,
            "i",
          ),
        );
        const notice = await Deno.readTextFile(notified);
        assert.match(notice, /renew-certs --env test failed/);
        assert.match(notice, new RegExp(APP.replaceAll(".", "\\.")));
        const still = await servedCert(host.ip, APP, pebbleRoot);
        assert.equal(still.serialNumber, second.serialNumber, "the old certificate keeps serving");
        assert.equal(
          (await httpGet(`https://${host.ip}/`, { host: APP, ca: pebbleRoot })).status,
          200,
        );

        // Back to normal: silent again; `certs` shows store and host agree.
        await pebble.setA(APP, host.ip);
        await setRenewBefore(30);
        const calm = await dj(["renew-certs", "--env", "test"]);
        assert.equal(calm.code, 0, calm.output);
        assert.equal(calm.output, "");
        const list = await dj(["certs", "--env", "test", "--json"]);
        ok(list, "certs --json");
        const certs = JSON.parse(list.stdout) as {
          name: string;
          store: { serial: string } | null;
          hosts: { host: string; serial?: string }[];
        }[];
        const app = certs.find((c) => c.name === APP)!;
        assert.equal(app.hosts[0].serial, app.store!.serial);

        // No key material, API key or app secret in anything djaploy printed or sent.
        const key = await Deno.readTextFile(join(store, "certbot/live", APP, "privkey.pem"));
        const keyBody = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
        for (const out of [...outputs, notice]) {
          assert.doesNotMatch(out, /PRIVATE KEY/);
          assert.ok(!out.includes(keyBody.slice(10, 40)), "key material in output");
          assert.ok(!out.includes(BUNNY_KEY), "the Bunny API key in output");
          assert.ok(!out.includes(TEST_SECRET), "the app's secret in output");
        }
        await Deno.remove(root, { recursive: true });
      } finally {
        await bunny.stop();
        await pebble.stop();
      }
    });
  },
);

e2eTest(
  'certificates: issue_on = "server": certbot on the host, renewed by its systemd timer',
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const pebble = await startPebble(host.ip);
      try {
        const gateway = host.ip.replace(/\.2$/, ".1");
        const project = await makeProject({
          hosts: [host],
          modules: ["core", "nginx", "systemd", "certs", "cert_renewal"],
          config: `[certificates]
email = "ops@example.test"
acme_directory = "https://${gateway}:14000/dir"
acme_ca_bundle = ${JSON.stringify(pebble.caBundle)}
renew_before_days = 30

[[certificates.domains]]
name = "${APP}"
`,
        });
        const dj = (args: string[]) => djaploy(project, args);
        const ok = (r: DjaployResult, what: string) =>
          assert.equal(r.code, 0, `${what}:\n${r.output}`);
        const configure = await dj(["configure", "--env", "test"]);
        ok(configure, "configure");
        assert.match(configure.output, /installed certbot/);
        assert.match(configure.output, /enabled djaploy-certbot-renew\.timer/);
        ok(await dj(["deploy", "--env", "test"]), "deploy");
        const update = await dj(["update-certs", "--env", "test"]);
        ok(update, "update-certs");
        assert.match(update.output, new RegExp(`${APP.replaceAll(".", "\\.")} on web-1: issued`));
        const pebbleRoot = await pebble.root();
        const first = await servedCert(host.ip, APP, pebbleRoot);
        assert.equal(
          (await httpGet(`https://${host.ip}/`, { host: APP, ca: pebbleRoot })).status,
          200,
        );
        assert.equal(
          await onHost(host, `sudo -n stat -c '%a %U' /etc/djaploy/certs/${APP}/privkey.pem`),
          "600 root",
        );
        const again = await dj(["update-certs", "--env", "test"]);
        ok(again, "update-certs (nothing due)");
        assert.match(again.output, /current/);

        // The server renews by itself: certbot renew from the timer's service, then the deploy hook.
        await onHost(
          host,
          `sudo -n sed -i 's/^renew_before_expiry = .*/renew_before_expiry = 3650 days/' /etc/letsencrypt/renewal/${APP}.conf`,
        );
        await onHost(host, "sudo -n systemctl start djaploy-certbot-renew.service");
        let second = await servedCert(host.ip, APP, pebbleRoot);
        for (let i = 0; i < 50 && second.serialNumber === first.serialNumber; i++) {
          await new Promise((r) => setTimeout(r, 100));
          second = await servedCert(host.ip, APP, pebbleRoot);
        }
        assert.notEqual(second.serialNumber, first.serialNumber, "the timer's renewal is served");
      } finally {
        await pebble.stop();
      }
    });
  },
);
