/**
 * A local lock around issuing: two overlapping runs (cron firing while the
 * previous run still works, or a person running update-certs) never both
 * renew. The second waits for the first, then finds nothing due. It is an
 * flock, so the kernel frees it when a run dies: no stale lock file.
 */
import { UserError } from "../errors.ts";

export interface LocalLock {
  release(): void;
}

export async function acquireLocalLock(
  path: string,
  opts: { waitSeconds: number; onWait?: () => void },
): Promise<LocalLock> {
  const file = await Deno.open(path, { create: true, write: true, mode: 0o600 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), opts.waitSeconds * 1000);
  });
  const notice = setTimeout(() => opts.onWait?.(), 1000);
  try {
    const got = await Promise.race([file.lock(true).then(() => "locked" as const), waited]);
    if (got === "timeout") {
      file.close();
      throw new UserError(
        `Wait for the other certificate run to finish: ${path} has been locked for ${opts.waitSeconds} s`,
      );
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(notice);
  }
  return {
    release() {
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}
