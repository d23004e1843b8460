/**
 * The scripts certificate steps run on servers, run here with /bin/sh and
 * stand-in `nginx` and `systemctl` programs; certbot's hook handshake; the
 * local lock.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sh, withTempDir, writeFiles } from "../helpers/fixtures.ts";
import {
  APPLY_SH,
  APPLY_TEST_FAILED,
  certDeployHook,
  STAGE_SH,
} from "../../templates/cert_scripts.ts";
import { type HookRequest, withHookServer } from "../../lib/certs/certbot_hooks.ts";
import { acquireLocalLock } from "../../lib/certs/issue_lock.ts";

/** A PATH with `nginx` (passes unless $dir/nginx-fails exists) and a `systemctl` that logs. */
async function fakeTools(dir: string): Promise<Record<string, string>> {
  await writeFiles(dir, {
    "bin/nginx":
      `#!/bin/sh\nif [ -e "${dir}/nginx-fails" ]; then echo "nginx: [emerg] cannot load certificate" >&2; exit 1; fi\necho "syntax is ok" >&2\n`,
    "bin/systemctl": `#!/bin/sh\necho "$*" >> "${dir}/systemctl.log"\n`,
  });
  await sh('chmod +x "$1/bin/nginx" "$1/bin/systemctl"', [dir]);
  return { PATH: `${dir}/bin:/usr/bin:/bin` };
}

async function stage(
  dir: string,
  path: string,
  content: string,
  mode: string,
  env: Record<string, string>,
) {
  const r = await sh(
    `printf '%s' "$3" | sh -c '${STAGE_SH.replaceAll("'", "'\\''")}' sh "$1" "$2"`,
    [path, mode, content],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  void dir;
}

Deno.test("APPLY_SH: swaps staged files in, reloads nginx, leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const env = await fakeTools(dir);
    const key = join(dir, "certs/a/privkey.pem");
    const chain = join(dir, "certs/a/fullchain.pem");
    await writeFiles(dir, { "certs/a/fullchain.pem": "old chain" });
    await stage(dir, chain, "new chain", "0644", env);
    await stage(dir, key, "new key", "0600", env);
    assert.equal((await sh('stat -c %a "$1.djaploy-new"', [key])).stdout.trim(), "600");
    const r = await sh(APPLY_SH, [chain, key], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(chain), "new chain");
    assert.equal(await Deno.readTextFile(key), "new key");
    assert.equal((await sh('stat -c %a "$1"', [key])).stdout.trim(), "600");
    assert.equal(await Deno.readTextFile(join(dir, "systemctl.log")), "reload-or-restart nginx\n");
    const left = (await sh('ls -a "$1"', [join(dir, "certs/a")])).stdout.split("\n").filter(
      Boolean,
    );
    assert.deepEqual(left.sort(), [".", "..", "fullchain.pem", "privkey.pem"]);
  });
});

Deno.test("APPLY_SH: nginx -t fails: every file back as it was, no reload, exit 3", async () => {
  await withTempDir(async (dir) => {
    const env = await fakeTools(dir);
    const chain = join(dir, "certs/a/fullchain.pem");
    const key = join(dir, "certs/a/privkey.pem");
    const site = join(dir, "sites-available/hello-tls.conf");
    const link = join(dir, "sites-enabled/hello-tls.conf");
    await writeFiles(dir, {
      "certs/a/fullchain.pem": "old chain",
      "certs/a/privkey.pem": "old key",
      "sites-enabled/.keep": "",
    });
    await stage(dir, chain, "new chain", "0644", env);
    await stage(dir, key, "new key", "0600", env);
    await stage(dir, site, "server {}", "0644", env);
    await sh('ln -sfn "$2" "$1.djaploy-new"', [link, site]);
    await Deno.writeTextFile(join(dir, "nginx-fails"), "");
    const r = await sh(APPLY_SH, [chain, key, site, link], { env });
    assert.equal(r.code, APPLY_TEST_FAILED);
    assert.match(r.stderr, /cannot load certificate/);
    assert.equal(await Deno.readTextFile(chain), "old chain");
    assert.equal(await Deno.readTextFile(key), "old key");
    await assert.rejects(
      Deno.lstat(site),
      Deno.errors.NotFound,
      "a file that did not exist is gone",
    );
    await assert.rejects(Deno.lstat(link), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(join(dir, "systemctl.log")), Deno.errors.NotFound, "no reload");
    const left = (await sh('ls -a "$1"', [join(dir, "certs/a")])).stdout.split("\n").filter(
      Boolean,
    );
    assert.deepEqual(left.sort(), [".", "..", "fullchain.pem", "privkey.pem"]);
  });
});

Deno.test("the deploy hook installs a renewed lineage with 0600 on the key", async () => {
  await withTempDir(async (dir) => {
    const env = await fakeTools(dir);
    await writeFiles(dir, {
      "live/example.com/fullchain.pem": "chain",
      "live/example.com/privkey.pem": "key",
    });
    const hook = join(dir, "hook.sh");
    await Deno.writeTextFile(hook, certDeployHook(join(dir, "certs")));
    const r = await sh('sh "$1"', [hook], {
      env: { ...env, RENEWED_LINEAGE: join(dir, "live/example.com") },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(dir, "certs/example.com/privkey.pem")), "key");
    assert.equal(
      (await sh('stat -c %a "$1"', [join(dir, "certs/example.com/privkey.pem")])).stdout.trim(),
      "600",
    );
    assert.equal(
      (await sh('stat -c %a "$1"', [join(dir, "certs/example.com/fullchain.pem")])).stdout.trim(),
      "644",
    );
    const missing = await sh('sh "$1"', [hook], { env });
    assert.equal(missing.code, 2);
  });
});

Deno.test("hook handshake: certbot's hook hands the challenge to djaploy and gets its answer", async () => {
  await withTempDir(async (dir) => {
    const seen: HookRequest[] = [];
    await withHookServer(dir, (req) => {
      seen.push(req);
      if (req.token === "bad") return Promise.reject(new Error("host web-1 is unreachable"));
      return Promise.resolve();
    }, async (hooks) => {
      const env = {
        PATH: "/usr/bin:/bin",
        CERTBOT_DOMAIN: "example.com",
        CERTBOT_TOKEN: "tok_1",
        CERTBOT_VALIDATION: "tok_1.thumb",
        CERTBOT_REMAINING_CHALLENGES: "1",
      };
      const ok = await sh(hooks.authHook, [], { env });
      assert.equal(ok.code, 0, ok.stderr);
      const bad = await sh(hooks.cleanupHook, [], { env: { ...env, CERTBOT_TOKEN: "bad" } });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /host web-1 is unreachable/);
      assert.match(String(hooks.error()), /unreachable/);
    });
    assert.deepEqual(seen[0], {
      phase: "auth",
      domain: "example.com",
      token: "tok_1",
      validation: "tok_1.thumb",
      remaining: 1,
    });
    assert.equal(seen[1].phase, "cleanup");
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the hook folder is removed");
  });
});

Deno.test("local lock: a second run waits for the first", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "renew.lock");
    const first = await acquireLocalLock(path, { waitSeconds: 5 });
    const order: string[] = [];
    const second = acquireLocalLock(path, { waitSeconds: 5 }).then((l) => {
      order.push("second");
      return l;
    });
    await new Promise((r) => setTimeout(r, 200));
    order.push("first releases");
    first.release();
    (await second).release();
    assert.deepEqual(order, ["first releases", "second"]);
  });
});
