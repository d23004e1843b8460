import assert from "node:assert/strict";
import { isIP } from "node:net";
import { ipVersion } from "../../lib/config/ip.ts";

const SAMPLES = [
  "",
  "1.2.3.4",
  "0.0.0.0",
  "255.255.255.255",
  "256.1.1.1",
  "01.2.3.4",
  "1.2.3",
  "1.2.3.4.5",
  "1.2.3.4 ",
  " 1.2.3.4",
  "10.231.200.2",
  "0x7f.0.0.1",
  "127.1",
  "::",
  "::1",
  "1::",
  "2001:db8::1",
  "2001:DB8:0:0:0:0:0:1",
  "2001:db8:0:0:0:0:0:0:1",
  "2001:db8::1::2",
  "fe80::1%eth0",
  "fe80::1%",
  "fe80::1%eth 0",
  "::ffff:10.0.0.1",
  "::ffff:10.0.0.256",
  "1:2:3:4:5:6:1.2.3.4",
  "1:2:3:4:5:6:7:1.2.3.4",
  "[::1]",
  "12345::1",
  "g::1",
  ":1",
  "1:",
  "1:2:3:4:5:6:7:",
  "1:2:3:4:5:6:7::",
  "::2:3:4:5:6:7:8",
  "localhost",
  "web1.example.com",
  "my_server",
];

Deno.test("ipVersion answers as Node's net.isIP on hand-picked addresses and non-addresses", () => {
  for (const s of SAMPLES) assert.equal(ipVersion(s), isIP(s), JSON.stringify(s));
});

Deno.test("ipVersion answers as Node's net.isIP on generated texts", () => {
  // A small linear congruential generator (32 bits, exact): the same texts on every run.
  let seed = 7;
  const next = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  const parts = [
    "",
    "0",
    "1",
    "9",
    "10",
    "99",
    "255",
    "256",
    "01",
    "a",
    "ff",
    "ffff",
    "fffff",
    "G",
  ];
  const seps = [".", ":", "::", "%", "%eth0", ""];
  const found = { 4: 0, 6: 0 };
  for (let i = 0; i < 20_000; i++) {
    // One text in three has four parts joined by dots: candidates for IPv4.
    const dotted = i % 3 === 0;
    let s = "";
    const n = dotted ? 4 : 1 + next(9);
    for (let k = 0; k < n; k++) {
      s += parts[next(parts.length)] + (k < n - 1 ? (dotted ? "." : seps[next(seps.length)]) : "");
    }
    const want = isIP(s);
    if (want !== 0) found[want as 4 | 6]++;
    assert.equal(ipVersion(s), want, JSON.stringify(s));
  }
  // The generator makes addresses of both kinds, not only rejects.
  assert.ok(found[4] > 100 && found[6] > 100, JSON.stringify(found));
});
