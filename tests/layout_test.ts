import assert from "node:assert/strict";
import { join } from "node:path";
import { layoutFor, slotLayout, SLOTS } from "../lib/host/layout.ts";
import { loadTestProject, withTempDir } from "./helpers/fixtures.ts";

Deno.test("slotLayout: each app and slot gets its own paths, asked once or many times", async () => {
  await withTempDir(async (dir) => {
    const hosts = await Promise.all([
      ["shop", "app"],
      ["blog", "app"],
      ["shop", "web"],
    ].map(async ([name, user]) =>
      (await loadTestProject(
        join(dir, `${name}-${user}`),
        `project_name = "${name}"\napp_user = "${user}"\ndeployment_strategy = "zero_downtime"\n`,
      )).host
    ));
    for (let round = 0; round < 2; round++) {
      for (const host of hosts) {
        for (const slot of SLOTS) {
          const s = slotLayout(host, layoutFor(host), slot);
          const app = `/home/${host.app_user}/apps/${host.app_name}`;
          assert.deepEqual({ ...s }, {
            slot,
            dir: `${app}/slots/${slot}`,
            unitName: `${host.app_name}-${slot}.service`,
            unitPath: `/etc/systemd/system/${host.app_name}-${slot}.service`,
            runtimeDir: `/run/${host.app_name}-${slot}`,
            socketPath: `/run/${host.app_name}-${slot}/${host.app_name}.sock`,
            staticRoot: `${app}/shared/staticfiles-${slot}`,
          });
        }
      }
    }
  });
});
