/**
 * End to end, on a real server: `[prepare]` builds a stylesheet into a
 * gitignored folder, `[artifact] include` ships it, collectstatic picks it up
 * through STATICFILES_DIRS and nginx serves it. An unchanged build output is
 * already live; a changed one is a new release; a missing one stops the
 * deploy with a config error before the server changes.
 */
import assert from "node:assert/strict";
import { djaploy, e2eTest, hostSnapshot, httpGet, makeProject, withHosts } from "./harness.ts";
import { ok } from "./harness/expect.ts";

const SETTINGS = await Deno.readTextFile(
  new URL("../../examples/hello/hello/settings.py", import.meta.url),
);

e2eTest("[artifact] include ships what [prepare] built; nginx serves it", async () => {
  await withHosts(["web-1"], async ([host]) => {
    const project = await makeProject({
      hosts: [host],
      config: [
        "[prepare]",
        // The stamp comes from the environment: the same commit can build another output.
        `commands = ["mkdir -p frontend/dist && printf 'body { color: green } /* %s */\\\\n' \\"$ASSET_STAMP\\" > frontend/dist/app.css"]`,
        "",
        "[artifact]",
        'include = ["frontend/dist"]',
      ].join("\n"),
      files: {
        ".gitignore": "frontend/dist/\n",
        "hello/settings.py": `${SETTINGS}\nSTATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"]\n`,
      },
    });
    const base = `http://${host.ip}`;
    const deploy = (stamp: string, ...flags: string[]) =>
      djaploy(project, ["deploy", "--env", "test", "-v", ...flags], {
        env: { ASSET_STAMP: stamp },
      });
    const first = `build-${crypto.randomUUID()}`;
    ok(await djaploy(project, ["configure", "--env", "test"]), "configure");

    const dry = await deploy(first, "--dry-run");
    ok(dry, "deploy --dry-run before any build");
    assert.match(dry.output, /include frontend\/dist is not built yet \(\[prepare\] did not run\)/);
    assert.match(dry.output, /^artifact \S+ \(main [0-9a-f]{7}\) ready/m);

    const deployed = await deploy(first);
    ok(deployed, "deploy");
    assert.match(deployed.output, /^artifact \S+ \(main [0-9a-f]{7} \+ frontend\/dist\) ready/m);
    const css = await httpGet(`${base}/static/app.css`);
    assert.equal(css.status, 200, "nginx serves the built stylesheet");
    assert.match(css.body, new RegExp(`body \\{ color: green \\} /\\* ${first} \\*/`));
    const shipped = await host.ssh("cat /home/app/apps/hello/code/frontend/dist/app.css");
    assert.match(shipped.stdout, new RegExp(first), "the build output is in the release's code");
    assert.equal(
      (await project.git("status", "--porcelain")).stdout,
      "",
      "the build output stays out of git",
    );

    const same = await deploy(first);
    ok(same, "redeploy with the same build output");
    assert.match(same.output, /already live/, "an unchanged build output is no change");

    const second = `build-${crypto.randomUUID()}`;
    const changed = await deploy(second);
    ok(changed, "redeploy with a new build output");
    assert.doesNotMatch(changed.output, /already live/, "a changed build output is a change");
    assert.match((await httpGet(`${base}/static/app.css`)).body, new RegExp(second));

    // --release takes the outputs from the working tree: said when it is not at the tag.
    await project.git("tag", "v1.0.0");
    await project.write("pages/message.txt", "After the tag\n");
    await project.commit("After the tag");
    const release = await deploy(second, "--release", "v1.0.0");
    ok(release, "deploy --release");
    assert.match(
      release.output,
      /Check out v1\.0\.0 before deploying it to ship its own build outputs: \[artifact\] include takes them from the working tree/,
    );
    assert.match((await httpGet(`${base}/static/app.css`)).body, new RegExp(second));

    // Without [prepare] and without the build output: refused before the server changes.
    const paths = ["/etc", "/home", "/var/www", "/var/lib/djaploy", "/opt", "/srv"];
    const before = await hostSnapshot(host, paths);
    await project.remove("frontend/dist");
    const missing = await deploy(second, "--skip-prepare");
    assert.equal(missing.code, 2, missing.output);
    assert.match(
      missing.output,
      /infra\/djaploy\.toml:\d+: artifact\.include\[0\]: must name a path that exists after \[prepare\]: "frontend\/dist" is not in /,
    );
    assert.deepEqual(
      await hostSnapshot(host, paths),
      before,
      "the refused deploy changed the server",
    );
    assert.match((await httpGet(`${base}/static/app.css`)).body, new RegExp(second));
  });
});
