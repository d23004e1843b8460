/**
 * djaploy's command line. The only place that reads Deno.args, prints
 * top-level errors and exits.
 */
import {
  type CommandDef,
  commandHelp,
  editDistance,
  parseArgs,
  type Parsed,
} from "./lib/cli/args.ts";
import { UsageError, UserError } from "./lib/errors.ts";
import { colorWanted, Ui, type Verbosity } from "./lib/output/ui.ts";
import { LiveStatus } from "./lib/output/live_status.ts";
import { writeStdoutNow } from "./lib/output/stdout.ts";
import { VERSION } from "./lib/version.ts";
import { configure, configureCommand } from "./lib/commands/configure.ts";
import { deploy, deployCommand } from "./lib/commands/deploy.ts";
import { verify, verifyCommand } from "./lib/commands/verify.ts";
import {
  activate,
  activateCommand,
  rollback,
  rollbackCommand,
} from "./lib/commands/activate_rollback.ts";
import { releases, releasesCommand, status, statusCommand } from "./lib/commands/status.ts";
import { unlock, unlockCommand } from "./lib/commands/unlock.ts";
import {
  certsCommand,
  certsList,
  renewCerts,
  renewCertsCommand,
  syncCerts,
  syncCertsCommand,
  updateCerts,
  updateCertsCommand,
} from "./lib/commands/certs.ts";
import { history, historyCommand } from "./lib/commands/history.ts";
import { manage, manageCommand } from "./lib/commands/manage.ts";
import { exec, execCommand } from "./lib/commands/exec.ts";
import { logs, logsCommand } from "./lib/commands/logs.ts";
import { ssh, sshCommand } from "./lib/commands/ssh.ts";
import { maintenance, maintenanceCommand } from "./lib/commands/maintenance.ts";
import { restore, restoreCommand } from "./lib/commands/restore.ts";
import { bootstrap, bootstrapCommand } from "./lib/commands/bootstrap.ts";
import { init, initCommand } from "./lib/commands/init.ts";
import { completions, completionsCommand } from "./lib/commands/completions.ts";
import { exitCodeFor, type Interrupt, listenForStop, NO_INTERRUPT } from "./lib/cli/interrupt.ts";
import { provideBuiltinModules } from "./lib/engine/module_loader.ts";
import { BUILTIN } from "./modules/builtin.ts";
import { nodeProcess } from "./lib/node_builtins.ts";

// The engine knows the built-in modules only through this table, as it knows
// a user's module through its path or URL.
provideBuiltinModules(BUILTIN);

interface Command {
  readonly def: CommandDef;
  /**
   * Gets what parseArgs made of the arguments with `def`; a command types its
   * flags from its definition (ParsedFor in lib/cli/args.ts).
   */
  run(ui: Ui, args: Parsed, interrupt: Interrupt): Promise<number>;
  /** SIGINT/SIGTERM stop it between steps (lib/cli/interrupt.ts) instead of ending the process. */
  readonly stoppable?: boolean;
  /** Has --json: stdout carries one JSON event a line, lines for people go to stderr. */
  readonly events?: boolean;
}

export const COMMANDS: readonly Command[] = [
  { def: initCommand, run: init },
  { def: verifyCommand, run: verify },
  { def: configureCommand, run: configure, stoppable: true, events: true },
  { def: deployCommand, run: deploy, stoppable: true, events: true },
  { def: activateCommand, run: activate, stoppable: true, events: true },
  { def: rollbackCommand, run: rollback, stoppable: true, events: true },
  { def: statusCommand, run: status },
  { def: releasesCommand, run: releases },
  { def: unlockCommand, run: unlock },
  { def: historyCommand, run: history },
  { def: manageCommand, run: manage },
  { def: execCommand, run: exec },
  { def: logsCommand, run: logs },
  { def: sshCommand, run: ssh },
  { def: maintenanceCommand, run: maintenance },
  { def: updateCertsCommand, run: updateCerts },
  { def: syncCertsCommand, run: syncCerts },
  { def: renewCertsCommand, run: renewCerts },
  { def: certsCommand, run: certsList },
  { def: restoreCommand, run: restore },
  { def: bootstrapCommand, run: bootstrap },
  {
    def: completionsCommand,
    run: (ui, args) => completions(ui, args, COMMANDS.map((c) => c.def)),
  },
];

function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.def.name.length));
  return [
    `djaploy ${VERSION}: deploy Django apps from git to your own Linux servers`,
    "",
    "Usage: djaploy <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) =>
      `  ${c.def.name.padEnd(w)}  ${c.def.summary.split(". ")[0].replace(/\.$/, "")}`
    ),
    "",
    "Run `djaploy <command> --help` for a command's options. Docs: docs/ in the repository.",
  ].join("\n");
}

export interface MainIo {
  readonly write?: (text: string) => void;
  readonly writeErr?: (text: string) => void;
  readonly isTerminal?: boolean;
}

/** Runs djaploy with the given arguments; returns the exit code. */
export async function main(argv: readonly string[], io: MainIo = {}): Promise<number> {
  const env = (name: string) => Deno.env.get(name);
  const color = colorWanted(io.isTerminal ?? Deno.stdout.isTerminal(), env);
  const errColor = colorWanted(io.isTerminal ?? Deno.stderr.isTerminal(), env);
  const uiOptions = { color, errColor, write: io.write, writeErr: io.writeErr };
  let ui = new Ui({ verbosity: "normal", ...uiOptions });
  try {
    const [name, ...rest] = argv;
    if (!name || name === "--help" || name === "-h" || name === "help") {
      ui.result(mainHelp());
      return name ? 0 : 2;
    }
    if (name === "--version" || name === "-V") {
      ui.result(`djaploy ${VERSION}`);
      return 0;
    }
    const command = COMMANDS.find((c) => c.def.name === name || c.def.aliases?.includes(name));
    if (!command) {
      const names = COMMANDS.map((c) => c.def.name);
      const near = names.find((c) => editDistance(c, name) <= 2);
      throw new UsageError(
        `Unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ""}: try one of ${
          names.join(", ")
        }`,
        { hint: "See: djaploy --help" },
      );
    }
    const args = parseArgs(rest, command.def);
    if (args.flags.help) {
      ui.result(commandHelp(command.def));
      return 0;
    }
    if (args.flags.verbose && args.flags.quiet) {
      throw new UsageError("Choose one of --verbose and --quiet");
    }
    const verbosity: Verbosity = args.flags.verbose
      ? "verbose"
      : args.flags.quiet
      ? "quiet"
      : "normal";
    const events = Boolean(command.events && args.flags.json);
    // A line per running host, on a terminal only (never in CI, cron or a pipe).
    const live = command.events && color && !events && verbosity !== "quiet"
      ? new LiveStatus({ write: io.write ?? writeStdoutNow })
      : undefined;
    ui = new Ui({ verbosity, ...uiOptions, events, live });
    const stop = command.stoppable ? listenForStop((m) => ui.warn(m), Deno.exit) : undefined;
    let code: number;
    try {
      code = await command.run(ui, args, stop?.interrupt ?? NO_INTERRUPT);
    } finally {
      stop?.dispose();
    }
    const received = stop?.interrupt.received;
    if (received) code = exitCodeFor(received);
    if (ui.verbosity === "verbose") {
      // node:process only for -v: loading it would cost every run (lib/node_builtins.ts). The
      // figure includes that loading, a few tens of milliseconds of CPU once.
      const { cpuUsage, resourceUsage } = nodeProcess();
      const cpu = cpuUsage();
      ui.debug(
        `djaploy used ${((cpu.user + cpu.system) / 1e6).toFixed(3)} s of CPU and ` +
          `${Math.round(resourceUsage().maxRSS / 1024)} MB of memory at most ` +
          "(this process; ssh, rsync and git not counted)",
      );
    }
    return code;
  } catch (err) {
    if (err instanceof UserError) {
      ui.error(`error: ${err.message}`);
      if (err.hint) ui.error(`hint: ${err.hint}`);
      return err.exitCode;
    }
    return reportUnexpected(ui, err);
  }
}

/**
 * An error djaploy did not expect (a bug): one line through the secret mask,
 * and the stack only with --verbose (masked too). Whatever the input, no
 * stack trace reaches the user unasked.
 */
export function reportUnexpected(ui: Ui, err: unknown): number {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  ui.error(`error: djaploy failed unexpectedly: ${text}`);
  if (ui.verbosity === "verbose" && err instanceof Error && err.stack) {
    ui.error(err.stack);
  } else {
    ui.error(
      "hint: This is a bug in djaploy. Run the command again with --verbose to see where it " +
        "happened, and report it.",
    );
  }
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
