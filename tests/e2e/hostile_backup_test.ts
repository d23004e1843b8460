/**
 * End to end, the backup and restore jobs against a hostile app user: with a
 * shell as the app's user (`sudo -u app`), an attacker plants symlinks at
 * every path of the app's folders that the backup timer's run and `djaploy
 * restore` touch, pointing at root's files (a canary file, a canary folder,
 * /etc/systemd/system). Then the backup service runs and restores run. Root's
 * files keep owner, mode and sha256, and no path outside the app's folders
 * becomes the app user's.
 *
 * The backups go to an rclone `local` remote and a borg repository on the
 * host itself, in folders the app user owns.
 */
import assert from "node:assert/strict";
import {
  djaploy,
  type DjaployResult,
  e2eTest,
  hostSnapshot,
  httpGet,
  makeProject,
  type TestHost,
  type TestProject,
  withHosts,
} from "./harness.ts";
import { q } from "./harness/run.ts";

const APP = "/home/app/apps/hello";
const STATE = `${APP}/.djaploy`;
const DATA = "/home/app/data";
const MEDIA = `${APP}/shared/media`;
const STORE = "/srv/backups";
const CANARY = "/etc/djaploy-canary";
const CANARY_DIR = "/etc/djaploy-canary.d";
/** Root's folders whose every file must stay as it was. */
const WATCHED = ["/etc", "/usr", "/root", "/var/lib", "/boot", "/opt"];

async function sh(host: TestHost, command: string, as = "root"): Promise<string> {
  const r = await host.ssh(`sudo -n -u ${as} sh -c ${q(command)}`, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `${host.name} as ${as}: ${command}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

/** Runs the backup service (a oneshot: returns when it is done): its exit code and journal. */
async function backupNow(
  host: TestHost,
  backend: string,
): Promise<{ code: number; journal: string }> {
  const r = await host.ssh(`sudo -n systemctl start hello-backup-${backend}.service`, {
    timeoutMs: 300_000,
  });
  const journal = await host.ssh(`sudo -n journalctl -u hello-backup-${backend} --no-pager -n 30`);
  return { code: r.code, journal: journal.stdout };
}

/** The paths the app user owns outside its home and the backup store (volatile ones aside). */
async function appOwnedOutside(host: TestHost): Promise<string[]> {
  const prune = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/home/app", STORE]
    .map((p) => `-path ${p}`).join(" -o ");
  const out = await sh(host, `find / -xdev \\( ${prune} \\) -prune -o -user app -print`);
  return out.split("\n").filter((l) => l !== "").sort();
}

interface Snapshot {
  readonly files: string[];
  readonly appOwned: string[];
}

async function snapshot(host: TestHost): Promise<Snapshot> {
  return { files: await hostSnapshot(host, WATCHED), appOwned: await appOwnedOutside(host) };
}

/** What changed between two snapshots, as lines a person can read ("" when nothing did). */
function changes(before: Snapshot, after: Snapshot): string[] {
  const was = new Set(before.files);
  const is = new Set(after.files);
  const owned = new Set(before.appOwned);
  return [
    ...before.files.filter((l) => !is.has(l)).map((l) => `  - ${l}`),
    ...after.files.filter((l) => !was.has(l)).map((l) => `  + ${l}`),
    ...after.appOwned.filter((p) => !owned.has(p)).map((p) => `  now the app user's: ${p}`),
  ];
}

function ok(r: DjaployResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
}

const ENV = { BORG_TEST_PASSPHRASE: "borg-pass-3f0c9d2e71" };

function cli(project: TestProject, args: string[]): Promise<DjaployResult> {
  return djaploy(project, args, { env: ENV });
}

e2eTest(
  "hostile app user: symlinks at the backup's staging and lock and at restore's data, media and staging reach none of root's files",
  async () => {
    await withHosts(["web-1"], async ([web]) => {
      const project = await makeProject({
        hosts: [web],
        modules: ["core", "nginx", "systemd", "rclone", "borg"],
        config: `[rclone]
schedule = "@daily"
retention_days = 7
path = "${STORE}"

[rclone.remote]
type = "local"

[borg]
repository = "/home/app/borg-repo"
passphrase = "env:BORG_TEST_PASSPHRASE"
schedule = "@daily"`,
      });
      ok(await cli(project, ["configure", "--env", "test"]), "configure");
      ok(await cli(project, ["deploy", "--env", "test"]), "deploy");
      await sh(web, `install -d -o app -g app -m 0750 ${STORE}`);
      for (let i = 0; i < 3; i++) {
        const page = await httpGet(`http://${web.ip}/`);
        assert.equal(page.status, 200, page.body.slice(0, 300));
      }
      await sh(
        web,
        `mkdir -p ${MEDIA}/uploads && echo 'a photo' > ${MEDIA}/uploads/photo.txt`,
        "app",
      );
      // Backups to restore, taken before any symlink is planted.
      for (const backend of ["rclone", "borg"]) {
        const clean = await backupNow(web, backend);
        assert.equal(clean.code, 0, `the ${backend} backup failed:\n${clean.journal}`);
      }
      assert.match(await sh(web, `ls ${STORE}/test/web-1`), /^\d{4}-\d{2}-\d{2}T\d{6}Z$/);

      // Root's canaries: a file and a folder holding a file named like the app's database.
      await sh(
        web,
        `printf 'canary\\n' > ${CANARY} && chmod 0644 ${CANARY} && install -d -m 0755 ${CANARY_DIR} && printf 'not a database\\n' > ${CANARY_DIR}/hello.sqlite3 && chmod 0600 ${CANARY_DIR}/hello.sqlite3`,
      );

      const found: string[] = [];
      const check = async (what: string, before: Snapshot) => {
        const lines = changes(before, await snapshot(web));
        if (lines.length > 0) found.push(`${what}:\n${lines.join("\n")}`);
      };

      // 1. The timers' runs: staging folders link to /etc/systemd/system, locks to a canary,
      // borg's cache and trust records (BORG_BASE_DIR) to root's home.
      let before = await snapshot(web);
      await sh(
        web,
        `cd ${STATE} && for b in rclone borg; do rm -rf backup-$b backup-$b.lock && ln -s /etc/systemd/system backup-$b && ln -s ${CANARY} backup-$b.lock; done && rm -rf borg && ln -s /root borg`,
        "app",
      );
      const planted = await backupNow(web, "rclone");
      await backupNow(web, "borg");
      await check(
        "the backup services, staging -> /etc/systemd/system, lock -> a canary, borg -> /root",
        before,
      );
      const jobUsers = await sh(
        web,
        "systemctl show -p User --value hello-backup-rclone hello-backup-borg",
      );
      const lock = await sh(web, `stat -c '%F %U' ${STATE}/backup-rclone.lock`);

      // 2. restore, its staging folder linking to a root-owned folder.
      before = await snapshot(web);
      await sh(
        web,
        `cd ${STATE} && rm -rf restore borg && ln -s ${CANARY_DIR} restore && mkdir borg`,
        "app",
      );
      await cli(project, ["restore", "--env", "test", "--backend", "borg", "--yes"]);
      await check("restore, staging -> a root folder", before);
      assert.equal(await sh(web, "systemctl is-active hello.service"), "active");

      // 3. restore, the data folder and the media folder's old copy linking to root's folder.
      before = await snapshot(web);
      await sh(
        web,
        `rm -f ${STATE}/restore && mv ${DATA} ${DATA}.real && ln -s ${CANARY_DIR} ${DATA} && ln -s ${CANARY_DIR} ${MEDIA}.djaploy-old`,
        "app",
      );
      await cli(project, ["restore", "--env", "test", "--backend", "rclone", "--yes"]);
      await check("restore, data -> a root folder, media.djaploy-old -> a root folder", before);
      assert.equal(
        await sh(web, "systemctl is-active hello.service || true"),
        "active",
        "the app runs again after a restore that could not put its data in place",
      );

      assert.deepEqual(found, [], `root's files changed:\n${found.join("\n")}`);
      assert.equal(
        planted.code,
        0,
        `the app user's own links do not stop its backups:\n${planted.journal}`,
      );
      // The jobs ran as the app user; the lock is a file of its own again, not the link.
      assert.deepEqual(jobUsers.split(/\s+/), ["app", "app"]);
      assert.equal(lock, "regular empty file app");

      // The planted links gone, restore works again.
      await sh(web, `rm ${DATA} ${MEDIA}.djaploy-old && mv ${DATA}.real ${DATA}`, "app");
      ok(await cli(project, ["restore", "--env", "test", "--backend", "borg", "--yes"]), "restore");
      assert.equal(
        await sh(web, `stat -c %U ${DATA}/hello.sqlite3 && cat ${MEDIA}/uploads/photo.txt`),
        "app\na photo",
      );
    });
  },
);
