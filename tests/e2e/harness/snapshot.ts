/**
 * What is on a host's disk, as comparable text: for "a dry run changes
 * nothing" and similar before/after assertions.
 */
import type { TestHost } from "./hosts.ts";
import { q } from "./run.ts";

/** Paths (find -path patterns) whose contents change on a server nobody touches. */
export const VOLATILE_PATHS: readonly string[] = [
  "/proc",
  "/sys",
  "/dev",
  "/run",
  "/tmp",
  "/var/tmp",
  "/var/log",
  "/var/cache",
  "/var/lib/sudo",
  "/var/lib/systemd",
  "*/__pycache__",
];

const HASHES = "\0--hashes--\0";

/**
 * Lists every file, directory and symlink under `paths` on the host (as root,
 * not crossing filesystems) as sorted lines
 * `<path> <type f|d|l> <mode> <owner>:<group> <sha256 | -> target | ->`,
 * skipping VOLATILE_PATHS and `opts.exclude`. Missing paths are skipped.
 */
export async function hostSnapshot(
  host: Pick<TestHost, "ssh">,
  paths: readonly string[],
  opts: { readonly exclude?: readonly string[] } = {},
): Promise<string[]> {
  for (const path of paths) {
    if (!path.startsWith("/")) throw new Error(`Give hostSnapshot absolute paths: got ${path}`);
  }
  const prune = [...VOLATILE_PATHS, ...(opts.exclude ?? [])]
    .map((pattern) => `-path ${q(pattern)}`).join(" -o ");
  const find = `find "$p" -xdev \\( ${prune} \\) -prune -o`;
  const script = [
    `for p in "$@"; do [ -e "$p" ] || [ -L "$p" ] || continue;`,
    `${find} \\( -type f -o -type d -o -type l \\) -printf '%p\\t%y\\t%m\\t%u:%g\\t%l\\0'`,
    `|| exit 1; done; printf '${HASHES.replaceAll("\0", "\\0")}';`,
    `for p in "$@"; do [ -e "$p" ] || continue;`,
    `${find} -type f -exec sha256sum -z {} + || exit 1; done`,
  ].join(" ");
  const r = await host.ssh(`sudo -n sh -c ${q(script)} sh ${paths.map(q).join(" ")}`);
  if (r.code !== 0) throw new Error(`hostSnapshot failed (exit ${r.code}): ${r.stderr}`);
  const [listing, hashes = ""] = r.stdout.split(HASHES);
  const sha = new Map<string, string>();
  for (const entry of hashes.split("\0")) {
    const match = /^([0-9a-f]{64}) {2}(.*)$/s.exec(entry);
    if (match) sha.set(match[2], match[1]);
  }
  return listing.split("\0").filter((entry) => entry !== "").map((entry) => {
    const [path, type, mode, owner, target] = entry.split("\t");
    const content = type === "f" ? sha.get(path) ?? "?" : type === "l" ? `-> ${target}` : "-";
    return `${path} ${type} ${mode} ${owner} ${content}`;
  }).sort();
}
