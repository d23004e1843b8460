/** [versioning] and [notifications] in djaploy.toml: defaults, typed values and exact errors. */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { loadEnvironment, loadProject } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { ProjectConfig } from "../../lib/config/types.ts";

const lines = (...ls: string[]) => ls.join("\n") + "\n";

async function load(toml: string, inventory?: string): Promise<ProjectConfig> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "djaploy_release_cfg_" }));
  try {
    const files: Record<string, string> = { "infra/djaploy.toml": toml };
    if (inventory) files["infra/inventory/production.toml"] = inventory;
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    const project = await loadProject({ cwd: dir });
    if (inventory) await loadEnvironment(project, "production");
    return project;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadError(toml: string, inventory?: string): Promise<string> {
  try {
    await load(toml, inventory);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("release config: without the tables, no versioning and no notifications", async () => {
  const p = await load(lines('project_name = "hello"'));
  assert.equal(p.versioning, undefined);
  assert.equal(p.notifications, undefined);
});

Deno.test("release config: an empty [versioning] gets every default", async () => {
  const p = await load(lines('project_name = "hello"', "[versioning]"));
  assert.deepEqual(p.versioning, {
    tag_environments: ["production"],
    increment_type: "patch",
    push_tags: true,
    version_file_path: "VERSION",
  });
});

Deno.test("release config: the issue's example, with secret references", async () => {
  const p = await load(lines(
    'project_name = "hello"',
    "[versioning]",
    'tag_environments = ["production", "staging"]',
    'increment_type = "minor"',
    "push_tags = false",
    'version_file_path = "hello/VERSION"',
    "[notifications]",
    "notify = true",
    "notify_on_failure = false",
    'display_name = "My App"',
    'webhook_url = "op://vault/slack/webhook-url"',
    'kind = "webhook"',
    'changelog_generator = "llm"',
    "[notifications.changelog_config]",
    'api_url = "https://api.mistral.ai/v1/chat/completions"',
    'model = "devstral-small-latest"',
    'api_key = "op://vault/mistral/api-key"',
  ));
  assert.deepEqual(p.versioning, {
    tag_environments: ["production", "staging"],
    increment_type: "minor",
    push_tags: false,
    version_file_path: "hello/VERSION",
  });
  assert.deepEqual(p.notifications, {
    notify: true,
    notify_on_failure: false,
    display_name: "My App",
    webhook_url: {
      kind: "op",
      target: "op://vault/slack/webhook-url",
      source: "op://vault/slack/webhook-url",
    },
    kind: "webhook",
    timeout: 5,
    changelog_generator: "llm",
    changelog_config: {
      api_url: "https://api.mistral.ai/v1/chat/completions",
      model: "devstral-small-latest",
      api_key: {
        kind: "op",
        target: "op://vault/mistral/api-key",
        source: "op://vault/mistral/api-key",
      },
      timeout: 20,
    },
  });
  assert.ok(Object.isFrozen(p.notifications) && Object.isFrozen(p.notifications!.changelog_config));
});

Deno.test("release config: notifications defaults; display_name is project_name; a plain URL is accepted", async () => {
  const p = await load(lines(
    'project_name = "hello"',
    "[notifications]",
    'webhook_url = "https://hooks.slack.com/services/T/B/X"',
  ));
  assert.deepEqual(p.notifications, {
    notify: true,
    notify_on_failure: true,
    display_name: "hello",
    webhook_url: "https://hooks.slack.com/services/T/B/X",
    kind: "slack",
    timeout: 5,
    changelog_generator: "simple",
  });
});

const BAD: [string, string, string | undefined, string][] = [
  [
    "notifications in an inventory",
    lines('project_name = "hello"'),
    lines(
      "[defaults.notifications]",
      "notify = false",
      "[[hosts]]",
      'name = "a"',
      'ssh_hostname = "x"',
    ),
    "infra/inventory/production.toml:1: defaults.notifications: not allowed in inventory [defaults]: " +
    "allowed in djaploy.toml",
  ],
  [
    "an unknown increment",
    lines('project_name = "hello"', "[versioning]", 'increment_type = "micro"'),
    undefined,
    'infra/djaploy.toml:3: versioning.increment_type: must be one of "major", "minor", "patch": got "micro"',
  ],
  [
    "a VERSION path outside the code",
    lines('project_name = "hello"', "[versioning]", 'version_file_path = "../VERSION"'),
    undefined,
    "infra/djaploy.toml:3: versioning.version_file_path: must be a relative path inside the project, " +
    'without "..": got "../VERSION"',
  ],
  [
    "a misspelt key",
    lines('project_name = "hello"', "[versioning]", "push_tag = true"),
    undefined,
    'infra/djaploy.toml:3: versioning: unknown key "push_tag" (did you mean "push_tags"?)',
  ],
  [
    "no webhook",
    lines('project_name = "hello"', "", "[notifications]", 'display_name = "X"'),
    undefined,
    "infra/djaploy.toml:3: notifications.webhook_url: is required when notify or notify_on_failure " +
    "is true (both are by default)",
  ],
  [
    "a webhook that is neither a URL nor a reference",
    lines('project_name = "hello"', "[notifications]", 'webhook_url = "hooks.slack.com/x"'),
    undefined,
    'infra/djaploy.toml:3: notifications.webhook_url: must be an http:// or https:// URL: got "hooks.slack.com/x"',
  ],
  [
    "llm without its endpoint",
    lines(
      'project_name = "hello"',
      "[notifications]",
      'webhook_url = "env:HOOK"',
      'changelog_generator = "llm"',
    ),
    undefined,
    'infra/djaploy.toml:4: notifications.changelog_config: is required when changelog_generator = "llm": ' +
    "a table with api_url and model",
  ],
  [
    "an endpoint without a model",
    lines(
      'project_name = "hello"',
      "[notifications]",
      'webhook_url = "env:HOOK"',
      "[notifications.changelog_config]",
      'api_url = "https://api.example/v1/chat/completions"',
    ),
    undefined,
    "infra/djaploy.toml:4: notifications.changelog_config.model: is required",
  ],
  [
    "a misspelt endpoint key",
    lines(
      'project_name = "hello"',
      "[notifications]",
      'webhook_url = "env:HOOK"',
      "[notifications.changelog_config]",
      'api_url = "https://api.example/v1/chat/completions"',
      'model = "m"',
      'api_kye = "env:KEY"',
    ),
    undefined,
    'infra/djaploy.toml:7: notifications.changelog_config.api_kye: unknown key "api_kye" (did you ' +
    'mean "api_key"?): allowed are "api_url", "model", "api_key", "timeout"',
  ],
  [
    "a timeout of zero",
    lines('project_name = "hello"', "[notifications]", 'webhook_url = "env:HOOK"', "timeout = 0"),
    undefined,
    "infra/djaploy.toml:4: notifications.timeout: must be greater than 0: got 0",
  ],
];

for (const [name, toml, inventory, message] of BAD) {
  Deno.test(`release config error: ${name}`, async () => {
    assert.equal(await loadError(toml, inventory), message);
  });
}
