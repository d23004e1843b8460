/**
 * Closing an OpenSSH master through its control socket, as `ssh -O exit`
 * does, without starting that ssh: djaploy closes one master per host and
 * run, and each process it starts costs it about a millisecond of CPU.
 *
 * The multiplexing protocol (OpenSSH's PROTOCOL.mux): packets are a uint32
 * length and a payload of uint32s. Each side says hello (MUX_MSG_HELLO,
 * version 4), then the client asks the master to terminate
 * (MUX_C_TERMINATE, a request id). The master answers MUX_S_OK, or closes
 * the socket as it exits, which OpenSSH's own client also takes for done;
 * MUX_S_PERMISSION_DENIED or MUX_S_FAILURE mean it refused.
 *
 * The client's hello and its request go in one write, before the master's
 * hello is read: the master reads its socket a packet at a time, the hello
 * first, so nothing changes for it, and djaploy waits for the master once
 * instead of twice (a wake-up less per host and run).
 */

const MUX_MSG_HELLO = 0x00000001;
const MUX_C_TERMINATE = 0x10000005;
const MUX_S_OK = 0x80000001;
const MUX_VERSION = 4;
/** A master that does not answer within this long is left to ControlPersist. */
const ANSWER_MS = 5_000;

/** What exitMaster came to: done, or the socket could not be used (ask `ssh -O exit` instead). */
export type MuxExit = "exited" | "refused" | "unavailable";

/** Encodes one packet of uint32 words. */
export function muxPacket(...words: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 + words.length * 4);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, words.length * 4);
  words.forEach((w, i) => view.setUint32(4 + i * 4, w));
  return bytes;
}

/**
 * Asks the master listening on `socketPath` to exit. "unavailable": no
 * connection to the socket could be made (none there, or djaploy may not
 * open it): the caller falls back to `ssh -O exit`.
 */
export async function exitMaster(socketPath: string, answerMs = ANSWER_MS): Promise<MuxExit> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch {
    return "unavailable";
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }, answerMs);
  try {
    await writeAll(
      conn,
      new Uint8Array([...muxPacket(MUX_MSG_HELLO, MUX_VERSION), ...muxPacket(MUX_C_TERMINATE, 1)]),
    );
    const theirs = await readPacket(conn);
    if (theirs === undefined) return "exited";
    if (theirs.getUint32(0) !== MUX_MSG_HELLO) return "refused";
    const reply = await readPacket(conn);
    // No answer: the master closed the socket as it exited.
    return reply === undefined || reply.getUint32(0) === MUX_S_OK ? "exited" : "refused";
  } catch {
    // The master went away halfway (or did not answer in time): nothing more to ask it.
    return "exited";
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer, or already
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** One packet's payload, or undefined at the end of the stream. */
async function readPacket(conn: Deno.Conn): Promise<DataView | undefined> {
  const head = await readExactly(conn, 4);
  if (!head) return undefined;
  const length = new DataView(head.buffer).getUint32(0);
  if (length < 4 || length > 256 * 1024) throw new Error(`mux: bad packet length ${length}`);
  const body = await readExactly(conn, length);
  return body ? new DataView(body.buffer) : undefined;
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array | undefined> {
  const buf = new Uint8Array(n);
  for (let off = 0; off < n;) {
    const got = await conn.read(buf.subarray(off));
    if (got === null) return undefined;
    off += got;
  }
  return buf;
}
