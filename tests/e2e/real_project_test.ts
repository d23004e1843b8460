/**
 * End to end, README's "five minutes" on a project nobody adapted to djaploy:
 * examples/catalog (Heroku-style settings: ALLOWED_HOSTS hard-coded, DEBUG on
 * unless the environment says otherwise, SQLite in BASE_DIR unless
 * DATABASE_URL says otherwise, a Procfile, no health URL). `djaploy init`,
 * the changes it prints applied as printed, the inventory filled in, commit,
 * verify, configure, a zero_downtime deploy; then the database moves to
 * another file in the data folder and the next deploy migrates it. No
 * --force anywhere.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  e2eTest,
  httpGet,
  makeProject,
  TEST_SECRET,
  type TestHost,
  withHosts,
} from "./harness.ts";
import { applyPrintedEdits } from "../helpers/init_edits.ts";

const ENV = { CATALOG_SECRET_KEY: TEST_SECRET };

async function sh(host: TestHost, cmd: string): Promise<string> {
  const r = await host.ssh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

e2eTest(
  "README's five minutes on a Heroku-style project: init's changes, zero_downtime, the database moved",
  async () => {
    await withHosts(["web-1"], async ([host]) => {
      const project = await makeProject({ hosts: [host], example: "catalog", infra: false });
      const run = async (args: string[], expect = 0) => {
        const r = await djaploy(project, args, { env: ENV });
        assert.equal(r.code, expect, `djaploy ${args.join(" ")}:\n${r.output}`);
        return r;
      };

      // 1. init, and the changes it prints, applied as printed.
      const init = await run(["init"]);
      assert.match(
        init.stderr,
        /catalog\/settings\.py:\d+: Read ALLOWED_HOSTS from the environment/,
      );
      assert.match(init.stderr, /DEBUG is on unless DEBUG says otherwise/);
      assert.match(init.stderr, /The database defaults to a SQLite file inside the project folder/);
      assert.match(init.stdout, /^health check: no health URL in your urls\.py/m);
      assert.deepEqual(await applyPrintedEdits(project.dir, init.stderr), ["catalog/settings.py"]);

      // 2. The inventory: the server's address, and (this machine) its key and known_hosts.
      const staging = await Deno.readTextFile(`${project.dir}/infra/inventory/staging.toml`);
      await project.write(
        "infra/inventory/staging.toml",
        staging.replaceAll("web-1.staging.example.com", host.ip).replace(
          /^ssh_hostname = .*$/m,
          (line) =>
            `${line}\nssh_key = ${JSON.stringify(host.key)}\n` +
            `known_hosts_file = ${JSON.stringify(`${project.root}/known_hosts`)}`,
        ),
      );
      // djaploy.toml: zero_downtime, Debian's Django (PyPI is unreachable from the test
      // machines), and the Debian package the admin's jQuery links to.
      const toml = await Deno.readTextFile(`${project.dir}/infra/djaploy.toml`);
      await project.write(
        "infra/djaploy.toml",
        toml.replace('deployment_strategy = "in_place"', 'deployment_strategy = "zero_downtime"')
          .replace(
            'manager = "pip"',
            'manager = "pip"\ninstall_args = ["--no-index"]\nsystem_site_packages = true',
          )
          .replace("[nginx]", '[system]\npackages = ["libjs-jquery"]\n\n[nginx]'),
      );
      await project.commit("djaploy");

      // 3. verify, configure, deploy.
      await run(["verify", "--env", "staging"]);
      assert.notEqual(
        (await host.ssh("dpkg -s libjs-jquery >/dev/null 2>&1")).code,
        0,
        "the image has no libjs-jquery: configure must install it",
      );
      await run(["configure", "--env", "staging"]);
      assert.equal(
        await sh(host, "dpkg-query -W -f='${Status}' libjs-jquery"),
        "install ok installed",
      );
      const first = await run(["deploy", "--env", "staging"]);
      assert.doesNotMatch(first.output, /Commit your changes/, "everything was committed");

      const base = `http://${host.ip}`;
      const page = await httpGet(`${base}/`);
      assert.equal(page.status, 200, page.body.slice(0, 500));
      assert.match(page.body, /<h1>Catalog<\/h1>/);
      assert.match(page.body, /No books yet/);
      const css = await httpGet(`${base}/static/books/style.css`);
      assert.equal(css.status, 200);
      assert.match(css.body, /books\/static\/books\/style\.css/);
      const jquery = await httpGet(`${base}/static/admin/js/vendor/jquery/jquery.js`);
      assert.equal(jquery.status, 200, "the admin's jQuery, from libjs-jquery via collectstatic");
      const login = await httpGet(`${base}/admin/login/`);
      assert.equal(login.status, 200);
      assert.match(login.body, /Django administration/);
      const other = await httpGet(`${base}/`, { host: "not-allowed.example" });
      assert.equal(other.status, 400, "ALLOWED_HOSTS comes from [defaults.env] now");
      const debugOff = await httpGet(`${base}/no-such-page/`);
      assert.equal(debugOff.status, 404);
      assert.doesNotMatch(debugOff.body, /Using the URLconf/, "DEBUG is off");

      // A row, written through manage.py in the live release; the database is in the data folder.
      await run([
        "manage",
        "--env",
        "staging",
        "--",
        "shell",
        "-c",
        "from books.models import Book; Book.objects.create(title='Dune', author='Frank Herbert', published=1965)",
      ]);
      assert.match((await httpGet(`${base}/`)).body, /<td>Dune<\/td><td>Frank Herbert<\/td>/);
      await sh(host, "sudo -n test -s /home/app/data/db.sqlite3");

      // 4. Move the database: another file in the data folder. Uncommitted, deploy says so.
      const moved = (await Deno.readTextFile(`${project.dir}/infra/djaploy.toml`)).replace(
        'DATABASE_URL = "sqlite:////home/app/data/db.sqlite3"',
        'DATABASE_URL = "sqlite:////home/app/data/catalog.sqlite3"',
      );
      await project.write("infra/djaploy.toml", moved);
      const dry = await run(["deploy", "--env", "staging", "--dry-run"]);
      assert.match(
        dry.stderr,
        /warning: Commit your changes to deploy them, or ship the working tree with --local: 1 tracked file differ from HEAD, which this deploy ships without them \(infra\/djaploy\.toml\)/,
      );
      await project.commit("Move the database");
      const second = await run(["deploy", "--env", "staging"]);
      assert.doesNotMatch(second.output, /Commit your changes/);
      const after = await httpGet(`${base}/`);
      assert.equal(
        after.status,
        200,
        `the new database was migrated:\n${after.body.slice(0, 300)}\n${second.output}`,
      );
      assert.match(after.body, /No books yet/, "a new, empty database: rows are re-created");
      await sh(host, "sudo -n test -s /home/app/data/catalog.sqlite3");
      await sh(host, "sudo -n test -s /home/app/data/db.sqlite3");
      await run([
        "manage",
        "--env",
        "staging",
        "--",
        "shell",
        "-c",
        "from books.models import Book; Book.objects.create(title='Dune', author='Frank Herbert')",
      ]);
      assert.match((await httpGet(`${base}/`)).body, /<td>Dune<\/td>/);
      assert.equal((await httpGet(`${base}/static/books/style.css`)).status, 200);
      assert.equal((await httpGet(`${base}/admin/login/`)).status, 200);
    });
  },
);
