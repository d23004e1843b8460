/** Assertions the end-to-end tests share. */
import assert from "node:assert/strict";
import { type DjaployResult, TEST_SECRET } from "./djaploy.ts";
import { httpGet } from "./http.ts";
import type { TestHost } from "./hosts.ts";

/** A djaploy run succeeded, and its output holds no secret. */
export function ok(r: Pick<DjaployResult, "code" | "output">, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.output}`);
  assert.ok(!r.output.includes(TEST_SECRET), `${what} printed the secret`);
}

/** The example app's message (its h1) as nginx serves it, asserting a 200. */
export async function pageMessage(host: TestHost): Promise<string> {
  const page = await httpGet(`http://${host.ip}/`);
  assert.equal(page.status, 200, `GET / answered ${page.status}: ${page.body.slice(0, 500)}`);
  const m = /<h1 id="message">([^<]*)<\/h1>/.exec(page.body);
  assert.ok(m, `the page has no message: ${page.body.slice(0, 500)}`);
  return m[1].trim();
}
