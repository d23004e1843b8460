/**
 * End to end, the Django management commands of `djaploy init
 * --django-commands`: `python3 manage.py deploy --env test --dry-run`, then a
 * real deploy and status through manage.py (Debian's Python and Django),
 * against a real host.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  djaployCommand,
  e2eTest,
  httpGet,
  makeProject,
  TEST_SECRET,
  withHosts,
} from "./harness.ts";
import { q, run } from "./harness/run.ts";

const PYTHON = "/usr/bin/python3";

e2eTest("python3 manage.py deploy --dry-run, deploy and status run djaploy", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({ hosts: [host] });
    const init = await djaploy(project, ["init", "--django-commands"]);
    assert.equal(init.code, 0, init.output);
    assert.match(init.output, /exists, left alone: infra\/djaploy\.toml/);
    assert.match(init.output, /wrote djaploy_commands\/management\/commands\/deploy\.py/);
    const settings = await Deno.readTextFile(`${project.dir}/hello/settings.py`);
    await project.write(
      "hello/settings.py",
      `${settings}\nINSTALLED_APPS += ["djaploy_commands"]\n`,
    );
    await project.commit("djaploy's management commands");
    assert.equal((await djaploy(project, ["configure", "--env", "test"])).code, 0);

    const manage = async (...args: string[]) =>
      await run(PYTHON, ["manage.py", ...args], {
        cwd: project.dir,
        env: {
          ...Deno.env.toObject(),
          DJAPLOY_BIN: djaployCommand().map(q).join(" "),
          HELLO_SECRET_KEY: TEST_SECRET,
          DJANGO_DEBUG: "1",
          NO_COLOR: "1",
        },
      });
    const dry = await manage("deploy", "--env", "test", "--dry-run");
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /a real run would send \d+ commands/);
    assert.notEqual((await httpGet(`http://${host.ip}/`)).status, 200, "a dry run deploys nothing");

    const deploy = await manage("deploy", "--env", "test");
    assert.equal(deploy.code, 0, deploy.output);
    assert.match((await httpGet(`http://${host.ip}/`)).body, /Hello from djaploy!/);
    const status = await manage("status", "--env", "test", "--json");
    assert.equal(status.code, 0, status.output);
    assert.equal(JSON.parse(status.stdout)[0].host, "web-1");
    const bad = await manage("rollback", "--env", "test");
    assert.equal(bad.code, 1, "djaploy's exit code comes through: in_place has no rollback");
    assert.match(bad.stderr, /Redeploy an earlier tag instead/);
  });
});
