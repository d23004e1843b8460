/** [certificates]: defaults, domains, and the exact messages for bad input. */
import assert from "node:assert/strict";
import { loadTestProject, withTempDir } from "../helpers/fixtures.ts";
import { ConfigError } from "../../lib/errors.ts";

const BASE = 'project_name = "hello"\nmodules = ["core", "nginx", "systemd", "certs"]\n';

Deno.test("certificates: defaults and a full domain", async () => {
  await withTempDir(async (dir) => {
    const { env } = await loadTestProject(
      dir,
      BASE + `[certificates]
email = "ops@example.com"

[[certificates.domains]]
name = "example.com"
alt_names = ["www.example.com", "example.com"]

[[certificates.domains]]
name = "api.example.com"
alt_names = ["*.api.example.com"]
challenge = "dns"
dns_provider = "bunny"
credentials = { api_key = "env:BUNNY_API_KEY", api_url = "http://127.0.0.1:9" }
hosts = ["web1"]
hsts = true
`,
    );
    const c = env.certificates!;
    assert.equal(c.acme_directory, "https://acme-v02.api.letsencrypt.org/directory");
    assert.equal(c.renew_before_days, 30);
    assert.equal(c.issue_on, "server");
    assert.equal(c.pregenerate_certificates, false);
    assert.equal(c.store, undefined);
    assert.deepEqual(c.domains[0], {
      name: "example.com",
      alt_names: ["www.example.com"],
      challenge: "http",
      dns_provider: undefined,
      credentials: {},
      hosts: undefined,
      hsts: false,
    });
    assert.deepEqual(c.domains[1].credentials, {
      api_key: { kind: "env", target: "BUNNY_API_KEY", source: "env:BUNNY_API_KEY" },
      api_url: "http://127.0.0.1:9",
    });
    assert.ok(Object.isFrozen(c.domains[1]));
  });
});

Deno.test("certificates: an inventory's [defaults] overrides djaploy.toml key by key", async () => {
  await withTempDir(async (dir) => {
    const { env } = await loadTestProject(
      dir,
      BASE + '[certificates]\nemail = "a@example.com"\nrenew_before_days = 20\n',
      '[defaults.certificates]\nrenew_before_days = 10\nstore = "~/certs"\n\n' +
        '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n',
    );
    assert.equal(env.certificates!.email, "a@example.com");
    assert.equal(env.certificates!.renew_before_days, 10);
    assert.equal(env.certificates!.store, `${Deno.env.get("HOME")}/certs`);
  });
});

const BAD: { name: string; toml: string; inventory?: string; message: string }[] = [
  {
    name: "an unknown domain key",
    toml: '[[certificates.domains]]\nname = "example.com"\nalt_name = ["www.example.com"]\n',
    message:
      'infra/djaploy.toml:5: certificates.domains[0].alt_name: unknown key "alt_name" (did you mean "alt_names"?)',
  },
  {
    name: "a domain without its name",
    toml: '[[certificates.domains]]\nhosts = ["web1"]\n',
    message: "infra/djaploy.toml:3: certificates.domains[0].name: is required",
  },
  {
    name: "an upper-case name",
    toml: '[[certificates.domains]]\nname = "Example.com"\n',
    message: "certificates.domains[0].name: must match",
  },
  {
    name: "DNS-01 without a provider",
    toml: '[[certificates.domains]]\nname = "example.com"\nchallenge = "dns"\n',
    message:
      'certificates.domains[0].dns_provider: is required with challenge = "dns": one of "bunny"',
  },
  {
    name: "an unknown provider",
    toml:
      '[[certificates.domains]]\nname = "example.com"\nchallenge = "dns"\ndns_provider = "route53"\n',
    message: 'certificates.domains[0].dns_provider: must be one of "bunny": got "route53"',
  },
  {
    name: "an API key written in the file",
    toml: '[[certificates.domains]]\nname = "example.com"\nchallenge = "dns"\n' +
      'dns_provider = "bunny"\ncredentials = { api_key = "abc123" }\n',
    message: "certificates.domains[0].credentials.api_key: must be a secret reference " +
      '("env:NAME", "file:PATH" or "op://..."), so that the credential is not committed with ' +
      "the config: got a plain value",
  },
  {
    name: "a wildcard with HTTP-01",
    toml: '[[certificates.domains]]\nname = "example.com"\nalt_names = ["*.example.com"]\n',
    message: 'certificates.domains[0].alt_names[0]: a wildcard name needs challenge = "dns"',
  },
  {
    name: "a name on two certificates",
    toml: '[[certificates.domains]]\nname = "example.com"\n\n' +
      '[[certificates.domains]]\nname = "www.example.com"\nalt_names = ["example.com"]\n',
    message:
      'certificates.domains[1].alt_names: must be unique: "example.com" is also on domains[0]',
  },
  {
    name: "issue_on misspelt",
    toml: '[certificates]\nissue_on = "local"\n',
    message:
      'infra/djaploy.toml:4: certificates.issue_on: must be one of "controller", "server": got "local"',
  },
  {
    name: "an unknown host",
    toml: '[[certificates.domains]]\nname = "example.com"\nhosts = ["web2"]\n',
    message:
      'infra/inventory/test.toml: certificates.domains[0].hosts[0]: unknown host "web2" (did you mean "web1"?): this environment has "web1"',
  },
  {
    name: "certificates in a [[hosts]] table",
    toml: "",
    inventory: '[[hosts]]\nname = "web1"\nssh_hostname = "10.0.0.1"\n' +
      '[hosts.certificates]\nemail = "a@example.com"\n',
    message:
      "hosts[0].certificates: not allowed in inventory [[hosts]]: allowed in djaploy.toml, " +
      "inventory [defaults]",
  },
];

for (const c of BAD) {
  Deno.test(`certificates config error: ${c.name}`, async () => {
    await withTempDir(async (dir) => {
      const err = await loadTestProject(dir, BASE + c.toml, c.inventory).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
      assert.ok(
        err.message.includes(c.message),
        `message:\n  ${err.message}\ndoes not include:\n  ${c.message}`,
      );
    });
  });
}
