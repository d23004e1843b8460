/** An executor for tests that runs commands on this machine through /bin/sh, as a host would through ssh. */
import {
  checkResult,
  type ExecResult,
  type Executor,
  type HeldCommand,
  newStats,
} from "../../lib/exec/executor.ts";
import { startProcess } from "../../lib/exec/process.ts";
import { type RemoteCommand, shScript, toShell } from "../../lib/exec/remote_command.ts";
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
      end: (o) => p.close(o),
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

/**
 * The app user's command, which leaves a process running that writes a chain failure line (the
 * chain's mark, read from its command line as anyone can) naming command `index` with `code`, on
 * stdout and stderr, then creates `flag`. `now` writes it before the command ends as well.
 */
export function forger(
  o: { index: number; code: number; flag: string; now?: boolean },
): RemoteCommand {
  const script =
    `mark=$(tr '\\0' '\\n' < /proc/$PPID/cmdline | grep -o '@@djaploy-chain-failed-[0-9a-f]\\{32\\}' | head -n 1)
forge() { printf '\\nforged\\n%s %s %s\\n' "$mark" "$1" "$2"; printf '\\n%s %s %s\\n' "$mark" "$1" "$2" >&2; }
if [ "$4" = now ]; then forge "$1" "$2"; fi
(sleep 0.2; forge "$1" "$2"; touch "$3") &`;
  return {
    argv: shScript(script, String(o.index), String(o.code), o.flag, o.now ? "now" : ""),
    as: "app",
  };
}

/** Root's command that waits (10 s at most) for `flag`, then ends with `code`. */
export function waitFor(flag: string, code = 0): RemoteCommand {
  return {
    argv: shScript(
      'i=0; while [ ! -e "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; echo root-done; exit "$2"',
      flag,
      String(code),
    ),
    as: "root",
  };
}
