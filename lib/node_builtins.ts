/**
 * Deno's Node modules that only some runs need, loaded on first use. A
 * module imported at the top of a file loads at every start, for every
 * command: `node:crypto` alone costs a run about 90 million instructions
 * (a third of the bundled djaploy's start), before the first line of
 * output. djaploy's own hashing uses Web Crypto (lib/hash.ts), and these
 * serve what only Node has: a certificate's fields (certs), rclone's
 * obscured passwords, reading a SQLite backup (restore), the public
 * synchronous `sha256`, and `-v`'s resource usage. docs/benchmarks.md,
 * "Node's modules off the start".
 */

/** node:crypto, loaded on first use. */
export function nodeCrypto(): typeof import("node:crypto") {
  return process.getBuiltinModule("node:crypto");
}

/** node:sqlite, loaded on first use. */
export function nodeSqlite(): typeof import("node:sqlite") {
  return process.getBuiltinModule("node:sqlite");
}

/** node:process's own functions (getrusage), loaded on first use. */
export function nodeProcess(): typeof import("node:process") {
  return process.getBuiltinModule("node:process");
}
