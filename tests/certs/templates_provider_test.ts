/** The HTTPS site and redirect, the certs probe's parser, and the Bunny DNS provider's protocol. */
import assert from "node:assert/strict";
import { nginxHttpsRedirect, nginxTlsSite } from "../../templates/nginx_tls.ts";
import { nginxSite } from "../../templates/nginx_site.ts";
import { parseCertsState } from "../../lib/certs/https.ts";
import { bunnyProvider } from "../../lib/certs/dns/bunny.ts";
import { Secret } from "../../lib/secrets/secret.ts";
import { UserError } from "../../lib/errors.ts";

const common = {
  appName: "hello",
  clientMaxBodySize: "10m",
  staticRoot: "/home/app/apps/hello/shared/staticfiles",
  mediaRoot: "/home/app/apps/hello/shared/media",
  acmeRoot: "/var/www/acme",
  snippetsDir: "/etc/nginx/djaploy.d/hello",
};

function locations(text: string): string[] {
  return [...text.matchAll(/^ {4}location [^\n]*\{\n[\s\S]*?^ {4}\}$/gm)].map((m) => m[0]);
}

Deno.test("HTTPS site: the HTTP site's locations, TLS settings, HSTS only when asked", () => {
  const site = nginxTlsSite({
    ...common,
    servers: [
      {
        names: ["example.com", "www.example.com"],
        certPath: "/c/a/fullchain.pem",
        keyPath: "/c/a/privkey.pem",
        hsts: false,
      },
      {
        names: ["api.example.com"],
        certPath: "/c/b/fullchain.pem",
        keyPath: "/c/b/privkey.pem",
        hsts: true,
      },
    ],
  });
  const http = nginxSite({
    ...common,
    serverName: "_",
    listen: 80,
    socketPath: "/run/hello/hello.sock",
  });
  const [a, b] = site.split(/\n(?=server \{)/).filter((s) => s.startsWith("server"));
  assert.deepEqual(
    locations(a),
    locations(http),
    "keep the HTTPS locations equal to the HTTP site's",
  );
  assert.deepEqual(locations(b), locations(http));
  assert.match(
    a,
    /listen 443 ssl http2;\n {4}listen \[::\]:443 ssl http2;\n {4}server_name example\.com www\.example\.com;/,
  );
  assert.match(
    a,
    /ssl_certificate \/c\/a\/fullchain\.pem;\n {4}ssl_certificate_key \/c\/a\/privkey\.pem;/,
  );
  assert.match(a, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  assert.doesNotMatch(a, /Strict-Transport-Security/);
  assert.match(b, /add_header Strict-Transport-Security "max-age=31536000" always;/);
  assert.match(a, /include \/etc\/nginx\/djaploy\.d\/hello\/\*\.conf;/);
});

Deno.test("redirect snippet: the names over HTTP, never ACME challenges, never HTTPS", () => {
  assert.equal(
    nginxHttpsRedirect(["example.com", "*.api.example.com"]),
    `# Written by djaploy's certs module: HTTP to HTTPS for names with a certificate.
set $djaploy_https_redirect "";
if ($host ~* "^(example\\.com|[^.]+\\.api\\.example\\.com)$") {
    set $djaploy_https_redirect $scheme;
}
if ($uri ~ "^/\\.well-known/acme-challenge/") {
    set $djaploy_https_redirect "";
}
if ($djaploy_https_redirect = http) {
    return 301 https://$host$request_uri;
}
`,
  );
});

Deno.test("certs probe: installed certificates, file hashes, the site link, certbot", () => {
  const h = (c: string) => c.repeat(64);
  const out = `@@djaploy-certs cert example.com
-----BEGIN CERTIFICATE-----
AAAA
-----END CERTIFICATE-----
@@djaploy-certs cert empty.com
@@djaploy-certs hashes
${h("a")}  /etc/djaploy/certs/example.com/fullchain.pem
${h("b")}  /etc/djaploy/certs/example.com/privkey.pem
${h("c")}  /etc/nginx/sites-available/hello-tls.conf
@@djaploy-certs link /etc/nginx/sites-available/hello-tls.conf
@@djaploy-certs certbot
`;
  const state = parseCertsState(out);
  assert.deepEqual([...state.certs.keys()], ["example.com"]);
  assert.match(state.certs.get("example.com")!, /BEGIN CERTIFICATE/);
  assert.equal(state.hashes.get("/etc/djaploy/certs/example.com/privkey.pem"), h("b"));
  assert.equal(state.hashes.size, 3);
  assert.equal(state.link, "/etc/nginx/sites-available/hello-tls.conf");
  assert.equal(state.certbot, true);
  const empty = parseCertsState("@@djaploy-certs hashes\n@@djaploy-certs link \n");
  assert.equal(empty.link, undefined);
  assert.equal(empty.certbot, false);
});

Deno.test("Bunny DNS: finds the zone, adds the TXT record, deletes it; the key only in AccessKey", async () => {
  const seen: { method: string; path: string; key: string | null; body?: unknown }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const body = req.method === "PUT" ? await req.json() : undefined;
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      key: req.headers.get("AccessKey"),
      body,
    });
    if (req.headers.get("AccessKey") !== "k-123") {
      return Response.json({ Message: "no" }, { status: 401 });
    }
    if (url.pathname === "/dnszone") {
      return Response.json({
        Items: [{ Id: 1, Domain: "example.com" }, { Id: 2, Domain: "sub.example.com" }],
        HasMoreItems: false,
      });
    }
    if (req.method === "PUT") return Response.json({ Id: 99, Type: 3 });
    return new Response(null, { status: 204 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const provider = bunnyProvider({
      credentials: new Map([["api_key", new Secret("k-123")], ["api_url", new Secret(url)], [
        "propagation_seconds",
        new Secret("0"),
      ]]),
      where: "certificates.domains[0]",
    });
    assert.equal(provider.propagationSeconds, 0);
    const record = await provider.present("_acme-challenge.www.sub.example.com", "txt-value");
    await provider.cleanup(record);
    assert.deepEqual(seen.map((s) => `${s.method} ${s.path}`), [
      "GET /dnszone?page=1&perPage=1000",
      "PUT /dnszone/2/records",
      "DELETE /dnszone/2/records/99",
    ]);
    assert.deepEqual(seen[1].body, {
      Type: 3,
      Name: "_acme-challenge.www",
      Value: "txt-value",
      Ttl: 60,
    });
    assert.ok(seen.every((s) => s.key === "k-123"));

    const wrong = bunnyProvider({
      credentials: new Map([["api_key", new Secret("nope")], ["api_url", new Secret(url)]]),
      where: "certificates.domains[0]",
    });
    const err = await wrong.present("_acme-challenge.example.com", "v").catch((e) => e);
    assert.ok(err instanceof UserError);
    assert.equal(err.message, "Bunny DNS refused GET /dnszone?page=1&perPage=1000: HTTP 401: no");
    assert.ok(!err.message.includes("nope") && !String(err.hint).includes("nope"));
    const noZone = await bunnyProvider({
      credentials: new Map([["api_key", new Secret("k-123")], ["api_url", new Secret(url)]]),
      where: "d",
    }).present("_acme-challenge.example.org", "v").catch((e) => e);
    assert.match(noZone.message, /Add a Bunny DNS zone for _acme-challenge\.example\.org/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("Bunny DNS: a missing api_key is a config error naming the key", () => {
  assert.throws(
    () => bunnyProvider({ credentials: new Map(), where: "certificates.domains[1]" }),
    /certificates\.domains\[1\]\.credentials\.api_key: is required by this DNS provider/,
  );
});
