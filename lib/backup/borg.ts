/**
 * What the borg module and `djaploy restore --backend borg` share: the
 * config check and pinning the repository host's ssh key.
 */
import { ConfigError } from "../errors.ts";
import type { HostConfig } from "../config/types.ts";
import type { StepContext } from "../engine/module_api.ts";
import { BACKUP_PY_PATH, PYTHON } from "./layout.ts";

/** Throws a ConfigError when `[borg]` lacks the repository or the passphrase. */
export function validateBorg(host: HostConfig): void {
  const missing = (["repository", "passphrase"] as const).filter((k) => !host.borg[k]);
  if (missing.length) {
    throw new ConfigError(
      `Configure the borg module for host ${host.name}: borg.${missing.join(" and borg.")} ${
        missing.length > 1 ? "are" : "is"
      } missing`,
      {
        hint: 'Add e.g. [borg] repository = "ssh://u123@u123.example.com:23/./backups/app", ' +
          'passphrase = "env:BORG_PASSPHRASE" (see docs/operations-modules.md).',
      },
    );
  }
}

/**
 * As root: pins the ssh key of the repository's host in root's known_hosts
 * (the first time; later runs only check it) and returns the file's text.
 */
export async function pinHostKey(
  ctx: Pick<StepContext, "exec">,
  opts: { repository: string; knownHosts: string },
): Promise<string> {
  const r = await ctx.exec.run({
    argv: [PYTHON, BACKUP_PY_PATH, "known-hosts"],
    as: "root",
    stdin: JSON.stringify({ repository: opts.repository, known_hosts: opts.knownHosts }),
  });
  const line = r.stdout.split("\n").find((l) => l.startsWith("@@djaploy-known-hosts "));
  return line ? JSON.parse(line.slice("@@djaploy-known-hosts ".length)) : "";
}
