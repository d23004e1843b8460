import assert from "node:assert/strict";
import { maxFailCount, parseMaxFail } from "../../lib/config/max_fail.ts";
import { Invalid } from "../../lib/config/validators.ts";

Deno.test("max_fail: a count or a percentage of the hosts, rounded down", () => {
  assert.equal(maxFailCount(parseMaxFail(2), 10), 2);
  assert.equal(maxFailCount(parseMaxFail(0), 10), 0);
  assert.equal(maxFailCount(parseMaxFail("25%"), 3), 0);
  assert.equal(maxFailCount(parseMaxFail("25%"), 8), 2);
  assert.equal(maxFailCount(parseMaxFail("34%"), 3), 1);
  assert.equal(maxFailCount(parseMaxFail("100%"), 7), 7);
  assert.equal(parseMaxFail("050%"), "50%");
});

Deno.test("max_fail: anything else says what is allowed", () => {
  for (const bad of [-1, 1.5, "2", "101%", "-5%", "%", "half", true]) {
    assert.throws(
      () => parseMaxFail(bad),
      (e) =>
        e instanceof Invalid &&
        /^must be a number of hosts \(0 or more\) or a percentage of the hosts deployed to, such as "25%": got /
          .test(e.message),
      String(bad),
    );
  }
});
