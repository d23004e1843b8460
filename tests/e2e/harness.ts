/**
 * The end-to-end harness: real Debian 12 hosts (scripts/testhosts.sh), a
 * throwaway git project made from examples/hello, and djaploy run as its
 * users run it, as a subprocess.
 *
 * ```ts
 * e2eTest("deploy serves the page", async () => {
 *   await withHosts(["web-1"], async (hosts) => {
 *     const project = await makeProject({ hosts });
 *     const r = await djaploy(project, ["deploy", "--env", "test"]);
 *     assertEquals(r.code, 0, r.output);
 *     const page = await httpGet(`http://${hosts[0].ip}/`);
 *     assertStringIncludes(page.body, "Hello from djaploy!");
 *   });
 * });
 * ```
 *
 * Environment:
 * - `DJAPLOY_E2E=skip`: when hosts cannot boot here, tests registered with
 *   `e2eTest` are reported as ignored (with the reason on stderr). Without it,
 *   withHosts throws and says why.
 * - `DJAPLOY_E2E_BIN=dist/djaploy.js`: run that instead of cli.ts.
 * - `DJAPLOY_E2E_KEEP=1`: leave hosts and project dirs behind for debugging.
 * - `DJAPLOY_E2E_VERBOSE=1`: print every djaploy run's output.
 *
 * @module
 */
export { e2eSkipReason, e2eTest } from "./harness/environment.ts";
export { type TestHost, withHosts, type WithHostsOptions } from "./harness/hosts.ts";
export { makeProject, type ProjectOptions, type TestProject } from "./harness/project.ts";
export {
  djaploy,
  DJAPLOY_PERMISSIONS,
  djaployCommand,
  type DjaployOptions,
  type DjaployResult,
  TEST_SECRET,
} from "./harness/djaploy.ts";
export { httpGet, type HttpGetOptions, type HttpResponse } from "./harness/http.ts";
export { hostSnapshot, VOLATILE_PATHS } from "./harness/snapshot.ts";
export type { RunResult } from "./harness/run.ts";
export {
  failedRequests,
  formatLoad,
  type Load,
  type LoadOptions,
  type LoadResult,
  parseWrk,
  startLoad,
  withLoad,
} from "./harness/load.ts";
