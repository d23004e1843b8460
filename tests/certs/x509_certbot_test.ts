/** Certificate facts (node:crypto), when a certificate is due, certbot's command lines and errors. */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { sh, withTempDir } from "../helpers/fixtures.ts";
import { daysLeft, parseCertificate, renewalReason, splitPem } from "../../lib/certs/x509.ts";
import {
  certbotProblem,
  controllerCertbotArgs,
  serverCertbotArgs,
} from "../../lib/certs/certbot.ts";
import { certStore } from "../../lib/certs/store.ts";

async function selfSigned(dir: string, days: number): Promise<string> {
  const r = await sh(
    'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$2" ' +
      '-subj /CN=example.com -addext "subjectAltName=DNS:example.com,DNS:www.example.com" ' +
      '-keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null && cat "$1/cert.pem"',
    [dir, String(days)],
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

Deno.test("parseCertificate reads names, dates, serial and self-signedness", async () => {
  await withTempDir(async (dir) => {
    const pem = await selfSigned(dir, 90);
    const info = parseCertificate(`some text\n${pem}${pem}`)!;
    assert.deepEqual(info.names, ["example.com", "www.example.com"]);
    assert.ok(info.selfSigned);
    assert.match(info.serial, /^[0-9A-F]+$/);
    assert.ok(daysLeft(info) >= 88 && daysLeft(info) <= 90);
    assert.equal(splitPem(pem + pem).length, 2);
    assert.equal(parseCertificate("no certificate"), undefined);
    assert.equal(
      parseCertificate("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----"),
      undefined,
    );
  });
});

Deno.test("renewalReason: missing, names, self-signed, expiry window", async () => {
  await withTempDir(async (dir) => {
    const info = parseCertificate(await selfSigned(dir, 90))!;
    const notSelf = { ...info, selfSigned: false };
    assert.equal(renewalReason(undefined, ["a.com"], 30), "no certificate yet");
    assert.equal(
      renewalReason(notSelf, ["example.com", "api.example.com"], 30),
      "not valid for api.example.com",
    );
    assert.equal(renewalReason(info, ["example.com"], 30), "self-signed");
    assert.equal(renewalReason(notSelf, ["example.com", "www.example.com"], 30), undefined);
    assert.match(
      renewalReason(notSelf, ["example.com"], 100)!,
      /^expires in \d+ days \(\d{4}-\d\d-\d\d\)$/,
    );
    const later = new Date(info.notAfter.getTime() + 86_400_000);
    assert.match(renewalReason(notSelf, ["example.com"], 30, later)!, /^expired on /);
  });
});

Deno.test("no key material in what parseCertificate returns", () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  assert.equal(parseCertificate(pem), undefined);
});

Deno.test("controller certbot: manual hooks, folders in the store, names, forced renewal", () => {
  const store = certStore("/home/me/.local/share/djaploy/certs/hello");
  const args = controllerCertbotArgs(
    {
      name: "example.com",
      names: ["example.com", "www.example.com"],
      email: "a@b.c",
      server: "https://acme/dir",
    },
    {
      store,
      challenge: "http",
      authHook: "sh /x/hook.sh auth",
      cleanupHook: "sh /x/hook.sh cleanup",
    },
  );
  assert.deepEqual(args, [
    "certonly",
    "--non-interactive",
    "--agree-tos",
    "--email",
    "a@b.c",
    "--no-eff-email",
    "--server",
    "https://acme/dir",
    "--cert-name",
    "example.com",
    "--force-renewal",
    "--key-type",
    "ecdsa",
    "--max-log-backups",
    "20",
    "-d",
    "example.com",
    "-d",
    "www.example.com",
    "--config-dir",
    `${store.dir}/certbot`,
    "--work-dir",
    `${store.dir}/work`,
    "--logs-dir",
    `${store.dir}/logs`,
    "--manual",
    "--preferred-challenges",
    "http",
    "--manual-auth-hook",
    "sh /x/hook.sh auth",
    "--manual-cleanup-hook",
    "sh /x/hook.sh cleanup",
  ]);
  assert.ok(!args.some((a) => a.includes("/etc/letsencrypt")));
});

Deno.test("server certbot: webroot and the deploy hook", () => {
  const args = serverCertbotArgs(
    { name: "example.com", names: ["example.com"], email: "a@b.c", server: "https://acme/dir" },
    { webroot: "/var/www/acme", deployHook: "/usr/local/sbin/djaploy-cert-deploy" },
  );
  assert.equal(args[0], "certbot");
  assert.deepEqual(args.slice(-5), [
    "--webroot",
    "--webroot-path",
    "/var/www/acme",
    "--deploy-hook",
    "/usr/local/sbin/djaploy-cert-deploy",
  ]);
});

Deno.test("certbotProblem: the CA's detail, a hook's error, or the last lines", () => {
  const ca = `Saving debug log to /x/letsencrypt.log
Certbot failed to authenticate some domains (authenticator: manual). The Certificate Authority reported these problems:
  Domain: app.example.test
  Type:   connection
  Detail: dial tcp 10.0.0.1:80: connect: connection refused

Hint: The Certificate Authority failed to verify the manually created challenge files.

Some challenges have failed.
Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /x for more details.`;
  assert.equal(
    certbotProblem(ca),
    "Domain: app.example.test; Type: connection; Detail: dial tcp 10.0.0.1:80: connect: connection refused",
  );
  const unexpected = "An unexpected error occurred:\nrequests.exceptions.SSLError: bad handshake\n";
  assert.equal(certbotProblem(unexpected), "requests.exceptions.SSLError: bad handshake");
  assert.equal(certbotProblem("one\ntwo\nthree\nfour\n"), "two; three; four");
  assert.equal(certbotProblem(""), "certbot failed without saying why");
});
