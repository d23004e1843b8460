/**
 * Several commands in one round trip. Each keeps its own user (sudo),
 * folder, environment, input and accepted exit codes; they run in order and
 * the chain stops at the first one that fails, whose command the error names.
 * A step that sends commands which do not need each other's output sends
 * them as one chain: a deploy's switch is one round trip, not five.
 *
 * Inputs travel as arguments of the chain, so a secret input is refused
 * (arguments show in the process list): send secrets on their own.
 */
import type { ChainResult, Executor } from "./executor.ts";
import { displayCommand } from "./executor.ts";
import { type RemoteCommand, shScript, wrapArgv } from "./remote_command.ts";
import { render } from "../shell.ts";
import { CommandError } from "../errors.ts";
import { marker } from "./marker.ts";

/**
 * The one command that runs `cmds` in order; exported for tests. Adjacent
 * commands of the same user share one sudo, but a user other than root and
 * `sshUser` (the app user) is not trusted with what comes after: each of its
 * commands runs through a sudo of its own, with its output in new files that
 * only the chain's user may open, sent on once it ended, and the chain itself
 * judges its exit code. A process the app user leaves running, or reaches
 * (ptrace and pidfd_getfd work between processes of one user), then never
 * holds the output of the commands after it, whose failure it could
 * otherwise forge or hide.
 */
export function chainCommand(
  cmds: readonly RemoteCommand[],
  sshUser: string,
  mark: string = marker("chain-failed"),
): RemoteCommand {
  const userOf = (cmd: RemoteCommand) => cmd.as ?? sshUser;
  const apart = (user: string) => user !== sshUser && user !== "root";
  const inputs: string[] = [];
  const lines: string[] = [];
  if (cmds.some((c) => apart(userOf(c)))) {
    lines.push(`t=$(mktemp -d) || exit 1`, `trap 'rm -rf "$t"' EXIT`);
  }
  for (let start = 0; start < cmds.length;) {
    const user = userOf(cmds[start]);
    if (apart(user)) {
      lines.push(apartLine(cmds[start], { index: start, sshUser, inputs, mark }));
      start++;
      continue;
    }
    let end = start + 1;
    while (end < cmds.length && userOf(cmds[end]) === user) end++;
    const own = user === sshUser;
    // The ssh user's commands read the chain's own arguments; a sudo group gets its inputs as its own.
    const group = groupScript(cmds.slice(start, end), {
      first: start,
      user,
      offset: own ? inputs.length : 0,
      mark,
    });
    if (own) {
      lines.push(group.script);
    } else {
      const refs = group.inputs.map((_, i) => `"\${${inputs.length + i + 1}}"`);
      const sudo = wrapArgv({ argv: ["sh", "-c", group.script, "sh"], as: user }, sshUser);
      lines.push(`${render(sudo)} ${refs.join(" ")} || exit 1`);
    }
    inputs.push(...group.inputs);
    start = end;
  }
  return {
    argv: shScript(lines.join("\n"), ...inputs),
    readOnly: cmds.every((c) => c.readOnly),
    okCodes: [0, 1],
  };
}

/**
 * The lines that run the app user's command `index` through sudo, its output
 * in files of its own (in the chain's folder `$t`), sent on once it ended.
 */
function apartLine(
  cmd: RemoteCommand,
  o: { index: number; sshUser: string; inputs: string[]; mark: string },
): string {
  const out = `"$t/${o.index}.out"`;
  const err = `"$t/${o.index}.err"`;
  let line = `${render(wrapArgv(cmd, o.sshUser))} >${out} 2>${err}`;
  const input = inputOf(cmd);
  if (input === undefined) {
    line += " </dev/null";
  } else {
    o.inputs.push(input);
    line = `printf '%s' "\${${o.inputs.length}}" | ${line}`;
  }
  return `${line}\nc=$?; if [ -s ${out} ]; then cat ${out}; fi; if [ -s ${err} ]; then cat ${err} >&2; fi
${failureCheck(cmd, o.index, o.mark)}`;
}

/** A command's input, which travels as an argument of the chain: a secret one is refused. */
function inputOf(cmd: RemoteCommand): string | undefined {
  if (cmd.stdin !== undefined && typeof cmd.stdin !== "string") {
    throw new Error("A secret input cannot travel in a chain: run that command on its own");
  }
  return cmd.stdin;
}

/** The line after command `index` (its exit code in `$c`) that ends the chain when it failed. */
function failureCheck(cmd: RemoteCommand, index: number, mark: string): string {
  const ok = (cmd.okCodes ?? [0]).join("|");
  return `case $c in ${ok}) ;; *) echo "${mark} ${index} $c" >&2; exit 1 ;; esac`;
}

/**
 * The script of commands that run as `user`; `first` is the index of the
 * first in the chain, `offset` the number of arguments before its inputs,
 * `mark` what a failure's line on stderr starts with.
 */
function groupScript(
  cmds: readonly RemoteCommand[],
  o: { first: number; user: string; offset: number; mark: string },
): { script: string; inputs: string[] } {
  const inputs: string[] = [];
  const lines = cmds.map((cmd, i) => {
    let line = render(wrapArgv(cmd, o.user));
    const input = inputOf(cmd);
    if (input !== undefined) {
      inputs.push(input);
      line = `printf '%s' "\${${o.offset + inputs.length}}" | ${line}`;
    }
    return `${line}\nc=$?; ${failureCheck(cmd, o.first + i, o.mark)}`;
  });
  return { script: lines.join("\n"), inputs };
}

/**
 * Runs `cmds` in one round trip. A command that fails throws its
 * CommandError, unless `check` is false: then the result says which failed.
 */
export async function runChain(
  exec: Executor,
  cmds: readonly RemoteCommand[],
  opts: { check?: boolean; root?: boolean } = {},
): Promise<ChainResult> {
  if (cmds.length === 0) return { code: 0, stdout: "", stderr: "", ms: 0 };
  if (exec.chain) {
    const r = await exec.chain(cmds);
    if (r.failed === undefined || opts.check === false) return r;
    throw chainFailure(exec, cmds, r);
  }
  const mark = marker("chain-failed");
  const r = await exec.run(oneCommand(exec, cmds, mark, opts.root === true));
  // Only a chain that failed has a failure line, and its own is the last: the app user's output
  // comes before it and may hold copies.
  const m = r.code === 1
    ? lastMatch(new RegExp(`^${mark} (\\d+) (\\d+)$`, "gm"), r.stderr)
    : undefined;
  if (!m) {
    if (r.code !== 0) {
      throw new CommandError({
        host: exec.host,
        command: cmds.map((c) => displayCommand(c, exec.sshUser)).join(" && "),
        code: r.code,
        stderr: r.stderr,
      });
    }
    return r;
  }
  const failed = Number(m[1]);
  const result = {
    ...r,
    stderr: (r.stderr.slice(0, m.index) + r.stderr.slice(m.index + m[0].length)).trim(),
    failed,
    failedCode: Number(m[2]),
  };
  if (opts.check === false) return result;
  throw chainFailure(exec, cmds, result);
}

function lastMatch(re: RegExp, text: string): RegExpExecArray | undefined {
  let last: RegExpExecArray | undefined;
  for (const m of text.matchAll(re)) last = m as RegExpExecArray;
  return last;
}

/**
 * The chain as one command. With `root`, a chain whose every command names
 * its user is one root command, which the shell that holds the host's deploy
 * lock runs (runningUnderLock: no ssh session of its own); root's commands
 * then run as they are and the others through `sudo -u`, in the same order.
 * Otherwise it runs as the ssh user, each command through its own `sudo`.
 */
function oneCommand(
  exec: Executor,
  cmds: readonly RemoteCommand[],
  mark: string,
  root: boolean,
): RemoteCommand {
  if (root && cmds.every((c) => c.as !== undefined)) {
    return { ...chainCommand(cmds, "root", mark), as: "root" };
  }
  return chainCommand(cmds, exec.sshUser, mark);
}

/** The error of a chain's failed command. */
export function chainFailure(
  exec: Executor,
  cmds: readonly RemoteCommand[],
  r: ChainResult,
): CommandError {
  return new CommandError({
    host: exec.host,
    command: displayCommand(cmds[r.failed ?? 0], exec.sshUser),
    code: r.failedCode ?? r.code,
    stderr: r.stderr || r.stdout,
  });
}
