/**
 * End to end: static files per slot (docs/how-it-works.md, "Static files").
 * Each release's stylesheet names its message; with ManifestStaticFilesStorage
 * the page links `hello.<hash>.css`, so a page whose stylesheet is another
 * release's (or missing) is a mix. On real hosts:
 *
 * - bluegreen: a staged release never changes what the live slot links, even
 *   when the live slot restarts and its workers read their manifest again
 *   (what the shared STATIC_ROOT got wrong); activate and rollback move the
 *   stylesheet with the page;
 * - zero_downtime: a deploy whose static inputs did not change (Python only) skips
 *   collectstatic and fills the new slot's folder with hard links to the live
 *   one's; a changed stylesheet keeps the previous release's hashed file
 *   served; rollback serves the rolled-back release's stylesheet.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  httpGet,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { ok } from "./harness/expect.ts";

const CSS = "pages/static/pages/hello.css";
const SHARED = "/home/app/apps/hello/shared";

/** Commits a new message and a stylesheet naming it. */
async function commit(project: TestProject, message: string): Promise<void> {
  await project.write("pages/message.txt", `${message}\n`);
  const text = await Deno.readTextFile(`${project.dir}/${CSS}`);
  await project.write(
    CSS,
    `${text.replace(/\n\/\* release: .* \*\/\n$/, "\n").trimEnd()}\n/* release: ${message} */\n`,
  );
  await project.commit(message);
}

/** What the site serves: the page's message, the stylesheet it links, and whose that is. */
async function serves(host: TestHost): Promise<{ message: string; href: string; css: string }> {
  const page = await httpGet(`http://${host.ip}/`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const message = /<h1 id="message">([^<]*)<\/h1>/.exec(page.body)?.[1].trim() ?? "";
  const href = /<link rel="stylesheet" href="([^"]+)">/.exec(page.body)?.[1] ?? "";
  assert.match(href, /^\/static\/pages\/hello\.[0-9a-f]{12}\.css$/, page.body.slice(0, 300));
  const css = await httpGet(`http://${host.ip}${href}`);
  assert.equal(css.status, 200, `${href} answered ${css.status}`);
  return { message, href, css: /\/\* release: (.*) \*\/\s*$/.exec(css.body)?.[1] ?? "" };
}

/** The site serves `message` with its own stylesheet (never a mix). */
async function assertServes(host: TestHost, message: string, cssOf = message): Promise<string> {
  const now = await serves(host);
  assert.equal(now.message, message, `the page: ${JSON.stringify(now)}`);
  assert.equal(now.css, cssOf, `the page of "${message}" links another release's stylesheet`);
  return now.href;
}

async function sh(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The slot nginx's /static/ follows (root's live-static link). */
async function staticSlot(host: TestHost): Promise<string> {
  const link = await sh(host, "readlink /var/lib/djaploy/apps/hello/static");
  const m = /\/shared\/staticfiles-(blue|green)$/.exec(link);
  assert.ok(m, `the live-static link names ${link}`);
  return m[1];
}

async function liveSlot(host: TestHost): Promise<string> {
  return await sh(host, "sudo -n cat /var/lib/djaploy/apps/hello/active-slot");
}

e2eTest(
  "static files per slot: bluegreen staging never changes what the live slot links",
  async () => {
    await withHosts(["static-bg"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "bluegreen" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      await commit(project, "bg one");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy (activates)");
      await assertServes(host, "bg one");
      const first = await liveSlot(host);
      assert.equal(await staticSlot(host), first);

      // Staged, not activated: the live slot restarts (its workers read the manifest again).
      await commit(project, "bg two");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "deploy (staged)");
      assert.equal(await liveSlot(host), first);
      await sh(host, `sudo -n systemctl restart hello-${first}.service`);
      await assertServes(host, "bg one");
      assert.equal(await staticSlot(host), first, "staging does not move nginx's /static/");

      ok(await djaploy(project, ["activate", "--env", "test"]), "activate");
      await assertServes(host, "bg two");
      assert.equal(await staticSlot(host), await liveSlot(host));
      assert.notEqual(await liveSlot(host), first);

      ok(await djaploy(project, ["rollback", "--env", "test"]), "rollback");
      await assertServes(host, "bg one");
      assert.equal(await staticSlot(host), first);
    });
  },
);

e2eTest(
  "static files per slot: zero_downtime skips, keeps old hashed files, rolls back with its own",
  async () => {
    await withHosts(["static-zd"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      await commit(project, "zd one");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      const oneHref = await assertServes(host, "zd one");

      // Only Python changes (collectstatic reads no .py file but settings): collectstatic is
      // skipped, and the new slot's folder is hard links to the live one's.
      const views = await Deno.readTextFile(`${project.dir}/pages/views.py`);
      await project.write("pages/views.py", `${views}\n# A change collectstatic does not read.\n`);
      await project.commit("A Python-only change");
      const two = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(two, "deploy without a static change");
      assert.match(two.output, /skipped collectstatic/);
      await assertServes(host, "zd one");
      const inodes = await sh(
        host,
        `stat -c %i ${SHARED}/staticfiles-blue/staticfiles.json ${SHARED}/staticfiles-green/staticfiles.json`,
      );
      const [a, b] = inodes.split("\n");
      assert.equal(a, b, "the slots' manifests are one file (hard links)");

      // A new stylesheet: the page of the release before still finds its own.
      await commit(project, "zd three");
      const three = await djaploy(project, ["deploy", "--env", "test", "-v"]);
      ok(three, "deploy with a new stylesheet");
      assert.doesNotMatch(three.output, /skipped collectstatic/);
      const threeHref = await assertServes(host, "zd three");
      assert.notEqual(threeHref, oneHref);
      const old = await httpGet(`http://${host.ip}${oneHref}`);
      assert.equal(old.status, 200, `the previous release's ${oneHref} is still served`);
      assert.match(old.body, /\/\* release: zd one \*\//);
      assert.equal(await staticSlot(host), await liveSlot(host));

      ok(await djaploy(project, ["rollback", "--env", "test"]), "rollback");
      await assertServes(host, "zd one");
      assert.equal(await staticSlot(host), await liveSlot(host));
    });
  },
);
