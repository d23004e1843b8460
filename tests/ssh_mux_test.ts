/**
 * Closing an ssh master through its control socket (lib/exec/ssh_mux.ts), against
 * stand-ins for OpenSSH's master that speak the mux protocol's first steps.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { exitMaster, muxPacket } from "../lib/exec/ssh_mux.ts";
import { withTempDir } from "./helpers/fixtures.ts";

/** Reads one mux packet's payload as uint32 words (undefined at the end of the stream). */
async function readWords(conn: Deno.Conn): Promise<number[] | undefined> {
  const read = async (n: number) => {
    const buf = new Uint8Array(n);
    for (let off = 0; off < n;) {
      const got = await conn.read(buf.subarray(off));
      if (got === null) return undefined;
      off += got;
    }
    return buf;
  };
  const head = await read(4);
  if (!head) return undefined;
  const body = await read(new DataView(head.buffer).getUint32(0));
  if (!body) return undefined;
  const view = new DataView(body.buffer);
  return Array.from({ length: body.length / 4 }, (_, i) => view.getUint32(i * 4));
}

/**
 * A master on `path` that says hello, records what the client asks, then
 * answers with `answer` (words of a packet) or, without one, closes the socket.
 * `helloLast`: it says hello only once the client's request arrived.
 */
function fakeMaster(path: string, answer?: number[], opts: { helloLast?: boolean } = {}) {
  const listener = Deno.listen({ transport: "unix", path });
  const asked: number[][] = [];
  const served = (async () => {
    const conn = await listener.accept();
    try {
      if (!opts.helloLast) await conn.write(muxPacket(0x1, 4));
      for (let i = 0; i < 2; i++) {
        const words = await readWords(conn);
        if (!words) break;
        asked.push(words);
        if (words[0] !== 0x10000005) continue;
        if (opts.helloLast) await conn.write(muxPacket(0x1, 4));
        if (answer) await conn.write(muxPacket(...answer));
        break;
      }
    } finally {
      conn.close();
      listener.close();
    }
  })();
  return { asked, served };
}

Deno.test("muxPacket: a uint32 length, then the words, big-endian", () => {
  assert.deepEqual(
    [...muxPacket(0x10000005, 1)],
    [0, 0, 0, 8, 0x10, 0, 0, 5, 0, 0, 0, 1],
  );
});

Deno.test("exitMaster: hello (version 4), then terminate; MUX_S_OK is done", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "0");
    const master = fakeMaster(path, [0x80000001, 1]);
    assert.equal(await exitMaster(path), "exited");
    await master.served;
    assert.deepEqual(master.asked, [[0x1, 4], [0x10000005, 1]]);
  });
});

Deno.test("exitMaster: its hello and the terminate request come before the master's hello is read", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "0");
    // A master that says nothing until both packets arrived: a client that
    // waited for the master's hello first would only give up after the wait.
    const master = fakeMaster(path, [0x80000001, 1], { helloLast: true });
    const started = performance.now();
    assert.equal(await exitMaster(path, 10_000), "exited");
    await master.served;
    assert.deepEqual(master.asked, [[0x1, 4], [0x10000005, 1]]);
    assert.ok(performance.now() - started < 5_000, "answered, not given up after the wait");
  });
});

Deno.test("exitMaster: a master that closes the socket as it exits is done too", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "0");
    const master = fakeMaster(path);
    assert.equal(await exitMaster(path), "exited");
    await master.served;
    assert.deepEqual(master.asked.at(-1), [0x10000005, 1]);
  });
});

Deno.test("exitMaster: permission denied is a refusal", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "0");
    const master = fakeMaster(path, [0x80000002, 1, 0]);
    assert.equal(await exitMaster(path), "refused");
    await master.served;
  });
});

Deno.test("exitMaster: no socket is 'unavailable' (the caller runs ssh -O exit)", async () => {
  await withTempDir(async (dir) => {
    assert.equal(await exitMaster(join(dir, "missing")), "unavailable");
  });
});

Deno.test("exitMaster: a master that never answers is given up after the wait", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "0");
    const listener = Deno.listen({ transport: "unix", path });
    const accepted = listener.accept();
    const started = performance.now();
    assert.equal(await exitMaster(path, 100), "exited");
    assert.ok(performance.now() - started < 2000);
    (await accepted).close();
    listener.close();
  });
});
