/** An executor for tests that runs commands on this machine through /bin/sh, as a host would through ssh. */
import {
  checkResult,
  type ExecResult,
  type Executor,
  type HeldCommand,
  newStats,
} from "../../lib/exec/executor.ts";
import { startProcess } from "../../lib/exec/process.ts";
import { type RemoteCommand, toShell } from "../../lib/exec/remote_command.ts";
import { sh } from "./fixtures.ts";
import { quote } from "../../lib/shell.ts";

export class ShellExecutor implements Executor {
  readonly host = "local";
  readonly stats = newStats();
  constructor(readonly sshUser: string, readonly env?: Record<string, string>) {}
  connect(): Promise<void> {
    return Promise.resolve();
  }
  async run(cmd: RemoteCommand): Promise<ExecResult> {
    this.stats.commands++;
    const r = await sh(toShell(cmd, this.sshUser), [], { env: this.env });
    return checkResult(this.host, this.sshUser, cmd, { ...r, ms: 0 });
  }
  sync(): never {
    throw new Error("not used");
  }
  hold(cmd: RemoteCommand): Promise<HeldCommand> {
    this.stats.commands++;
    const env = Object.entries(this.env ?? {}).map(([k, v]) => `export ${k}=${quote(v)}\n`);
    const p = startProcess("sh", ["-c", env.join("") + toShell(cmd, this.sshUser)]);
    return Promise.resolve({
      readLine: () => p.readLine(),
      write: (t) => p.write(t),
      end: () => p.close(),
    });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A stand-in sudo in `dir`/bin that logs who it runs as to `dir`/sudo.log, then runs the command
 * after "--". Returns the environment (PATH) that finds it first.
 */
export async function standInSudo(dir: string): Promise<Record<string, string>> {
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bin/sudo`,
    `#!/bin/sh
user=root
[ "$3" = -u ] && user=$4
echo "$user" >> "${dir}/sudo.log"
while [ "$1" != -- ]; do shift; done
shift
exec "$@"
`,
  );
  await Deno.chmod(`${dir}/bin/sudo`, 0o755);
  return { PATH: `${dir}/bin:${Deno.env.get("PATH")}` };
}
