/**
 * End to end: every deploy that moves traffic checks the new code over HTTP
 * first, and a failure says why in the app's own words. zero_downtime: an
 * app answering 400 (ALLOWED_HOSTS does not take the Host), one answering
 * 500 (a view raising), and one with no health endpoint and no path
 * configured whose `/` answers 400 are all refused at once while the old
 * release keeps serving. in_place and bluegreen probe `/` too.
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
import { ok, pageMessage } from "./harness/expect.ts";

/** Replaces a match in infra/djaploy.toml (asserting it is there). */
async function editConfig(project: TestProject, from: RegExp, to: string): Promise<void> {
  const path = `${project.infraDir}/djaploy.toml`;
  const text = await Deno.readTextFile(path);
  assert.match(text, from);
  await Deno.writeTextFile(path, text.replace(from, to));
}

async function commitMessage(project: TestProject, text: string): Promise<void> {
  await project.write("pages/message.txt", `${text}\n`);
  await project.commit(text);
}

/**
 * A deploy that must be refused: exit 1 after asking once (a final answer is not asked again).
 * The time bound is only a backstop: a machine this busy can stall a slot's start for 30 s.
 */
async function refused(project: TestProject, what: string, seconds = 60): Promise<string> {
  const r = await djaploy(project, ["deploy", "--env", "test"]);
  assert.equal(r.code, 1, `${what}: the deploy must fail:\n${r.output}`);
  assert.match(r.output, /failed at start new release/, r.output);
  assert.match(r.output, /the health check failed: GET .* after 1 try,/, r.output);
  assert.ok(r.ms < seconds * 1000, `${what}: took ${r.ms} ms:\n${r.output}`);
  return r.output;
}

const VIEWS = await Deno.readTextFile(
  new URL("../../examples/hello/pages/views.py", import.meta.url),
);

e2eTest(
  "zero_downtime: a 400 (ALLOWED_HOSTS) and a 500 (a view raising) are refused, with the Host, the status, the value to add and the traceback; the old release keeps serving",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], strategy: "zero_downtime" });
      ok(await djaploy(project, ["configure", "--env", "test"]), "configure");
      await commitMessage(project, "Good");
      ok(await djaploy(project, ["deploy", "--env", "test"]), "first deploy");
      assert.equal(await pageMessage(host), "Good");

      // 400: ALLOWED_HOSTS does not take the Host the probe sends (server_name is "_": the host's address).
      await editConfig(project, /^ALLOWED_HOSTS = .*$/m, 'ALLOWED_HOSTS = "www.example.org"');
      await commitMessage(project, "Wrong ALLOWED_HOSTS");
      const bad = await refused(project, "a 400");
      assert.match(
        bad,
        new RegExp(`GET /health/ with Host: ${host.ip.replaceAll(".", "\\.")} answered HTTP 400`),
      );
      assert.match(bad, new RegExp(`add "${host.ip.replaceAll(".", "\\.")}" to ALLOWED_HOSTS`));
      // Django's own words, from the request run once in the new release.
      assert.match(bad, /\| .*Invalid HTTP_HOST header: '10\.231\.\d+\.2'/);
      assert.match(bad, /\| ALLOWED_HOSTS = \['www\.example\.org'\] does not accept the Host/);
      assert.match(bad, /hint: See the app's log: journalctl -u hello-green\.service -n 50/);
      assert.doesNotMatch(bad, /after \d+ tries/, "a 400 is not asked again");
      assert.equal(await pageMessage(host), "Good", "the old release keeps serving");

      // 500: a view raises.
      await editConfig(project, /^ALLOWED_HOSTS = .*$/m, 'ALLOWED_HOSTS = "*"');
      await project.write(
        "pages/views.py",
        VIEWS.replace(
          "def health(request):\n",
          'def health(request):\n    raise RuntimeError("the health view fails on purpose")\n',
        ),
      );
      await commitMessage(project, "A raising view");
      const broken = await refused(project, "a 500");
      assert.match(broken, /GET \/health\/ with Host: \S+ answered HTTP 500/);
      assert.match(broken, /\| Traceback \(most recent call last; Django's own frames left out\):/);
      assert.match(broken, /\| .*pages\/views\.py", line \d+, in health/);
      assert.match(broken, /\| RuntimeError: the health view fails on purpose/);
      assert.doesNotMatch(broken, /django\/core\/handlers/, "Django's own frames are left out");
      assert.equal(await pageMessage(host), "Good", "the old release keeps serving");
      assert.equal((await httpGet(`http://${host.ip}/health/`)).body, "ok");
    });
  },
);

/** The example with no health endpoint, and `/` answering 400 unless it is fixed. */
async function noHealthEndpoint(host: TestHost, strategy: string): Promise<TestProject> {
  const project = await makeProject({
    hosts: [host],
    strategy,
    files: {
      "hello/urls.py": `from django.urls import path

from pages import views

urlpatterns = [path("", views.index, name="index")]
`,
    },
  });
  await editConfig(project, /\[health_check\]\npath = "\/health\/"\n/, "");
  await project.commit("No health endpoint, no [health_check]");
  return project;
}

const INDEX_400 = VIEWS.replace(
  "def index(request):\n",
  "def index(request):\n    from django.http import HttpResponseBadRequest\n\n" +
    '    return HttpResponseBadRequest("refused on purpose")\n',
);

e2eTest(
  "no health endpoint, no path: / is still checked in every strategy, and a 400 there refuses the deploy",
  async () => {
    await withHosts(["web-1", "web-2", "web-3"], async (hosts) => {
      await Promise.all(
        (["zero_downtime", "bluegreen", "in_place"] as const).map(async (strategy, i) => {
          const host = hosts[i];
          const project = await noHealthEndpoint(host, strategy);
          assert.doesNotMatch(
            await Deno.readTextFile(`${project.infraDir}/djaploy.toml`),
            /health_check/,
          );
          ok(await djaploy(project, ["configure", "--env", "test"]), `${strategy}: configure`);
          await commitMessage(project, "Good");
          const first = await djaploy(project, ["deploy", "--env", "test", "-v"]);
          ok(first, `${strategy}: first deploy`);
          assert.match(first.output, /HTTP 200 after \d+ tries/, `${strategy}: / was probed`);
          assert.equal(await pageMessage(host), "Good");

          await project.write("pages/views.py", INDEX_400);
          await commitMessage(project, "Index refuses");
          const activate = strategy === "bluegreen" ? ["--activate"] : [];
          const r = await djaploy(project, ["deploy", "--env", "test", ...activate]);
          assert.equal(r.code, 1, `${strategy}: the deploy must fail:\n${r.output}`);
          assert.match(
            r.output,
            new RegExp(
              `GET / with Host: ${
                host.ip.replaceAll(".", "\\.")
              } answered HTTP 400 \\(refused on purpose\\) after 1 try, expected HTTP 200-399`,
            ),
            r.output,
          );
          if (strategy === "in_place") {
            // in_place restarts before it can check: the deploy fails, and says so.
            assert.match(r.output, /failed at health check/);
            assert.match(r.output, /journalctl -u hello\.service/);
          } else {
            assert.match(r.output, /journalctl -u hello-green\.service/);
            assert.equal(await pageMessage(host), "Good", `${strategy}: the old release serves`);
          }
        }),
      );
    });
  },
);
