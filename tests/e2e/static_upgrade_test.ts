/**
 * End to end, opt-in: a host deployed by a djaploy from before static files
 * per slot (one shared/staticfiles for every release) is deployed by this
 * one, with no configure in between (docs/how-it-works.md, "Static files").
 * For zero_downtime and bluegreen: the first deploy serves the new page with
 * its stylesheet and moves nginx's /static/ to the slot's folder; rollback
 * serves the previous release with its own stylesheet (bluegreen: from
 * shared/staticfiles, as the slot never made its folder); the deploy after
 * that too.
 *
 * Needs the older djaploy as a program, named by DJAPLOY_E2E_OLD_BIN (ignored
 * without it), e.g. for commit 9d28352:
 *
 *   git archive 9d28352 | tar -x -C /tmp/old
 *   printf '#!/bin/sh\nexec deno run -q --config /tmp/old/deno.json -A /tmp/old/cli.ts "$@"\n' \
 *     >/tmp/old/djaploy && chmod +x /tmp/old/djaploy
 *   DJAPLOY_E2E_OLD_BIN=/tmp/old/djaploy deno test -A tests/e2e/static_upgrade_test.ts
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

const OLD = Deno.env.get("DJAPLOY_E2E_OLD_BIN");
const CSS = "pages/static/pages/hello.css";
const NAME =
  "static files per slot: a host deployed by the djaploy before upgrades with no step by hand";

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

/** "<page's message> / css <whose stylesheet the page links>". */
async function serves(host: TestHost): Promise<string> {
  const page = await httpGet(`http://${host.ip}/`);
  const message = /<h1 id="message">([^<]*)<\/h1>/.exec(page.body)?.[1].trim() ?? "";
  const href = /<link rel="stylesheet" href="([^"]+)">/.exec(page.body)?.[1] ?? "";
  const css = await httpGet(`http://${host.ip}${href}`);
  return `${message} / css ${/\/\* release: (.*) \*\/\s*$/.exec(css.body)?.[1] ?? css.status}`;
}

/** Runs the older djaploy (`old`) or this one. */
async function run(old: boolean, project: TestProject, args: string[]): Promise<void> {
  if (old) Deno.env.set("DJAPLOY_E2E_BIN", OLD!);
  try {
    ok(await djaploy(project, args), `${old ? "the older " : ""}djaploy ${args.join(" ")}`);
  } finally {
    if (old) Deno.env.delete("DJAPLOY_E2E_BIN");
  }
}

async function staticLink(host: TestHost): Promise<string> {
  return (await host.ssh("readlink /var/lib/djaploy/apps/hello/static")).stdout.trim();
}

if (OLD) {
  e2eTest(NAME, async () => {
    await withHosts(["upgrade-zd", "upgrade-bg"], async (hosts) => {
      const cases: [TestHost, string][] = [[hosts[0], "zero_downtime"], [hosts[1], "bluegreen"]];
      for (const [h, strategy] of cases) {
        const p = await makeProject({ hosts: [h], strategy });
        const deploy = ["deploy", "--env", "test", "--activate"];
        if (strategy === "zero_downtime") deploy.pop();
        await run(true, p, ["configure", "--env", "test"]);
        for (const v of ["v1", "v2"]) {
          await commit(p, v);
          await run(true, p, deploy);
        }
        assert.equal(await serves(h), "v2 / css v2", `${strategy}: the older djaploy`);
        assert.equal(await staticLink(h), "", "the older djaploy made no live-static link");

        await commit(p, "v3");
        await run(false, p, deploy);
        assert.equal(await serves(h), "v3 / css v3", `${strategy}: the first deploy after`);
        assert.match(await staticLink(h), /\/shared\/staticfiles-(blue|green)$/);

        await run(false, p, ["rollback", "--env", "test"]);
        assert.equal(await serves(h), "v2 / css v2", `${strategy}: rollback`);
        if (strategy === "bluegreen") {
          assert.equal(await staticLink(h), "/home/app/apps/hello/shared/staticfiles");
        }

        await commit(p, "v4");
        await run(false, p, deploy);
        assert.equal(await serves(h), "v4 / css v4", `${strategy}: the deploy after the rollback`);
      }
    });
  });
} else {
  Deno.test({ name: `${NAME} (set DJAPLOY_E2E_OLD_BIN)`, ignore: true, fn() {} });
}
