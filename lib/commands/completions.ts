/** `djaploy completions bash|zsh|fish`: prints the shell's completion script. */
import type { CommandDef, Parsed } from "../cli/args.ts";
import type { Ui } from "../output/ui.ts";
import { UsageError } from "../errors.ts";
import { completionScript, type Shell, SHELLS } from "../cli/completion_scripts.ts";

export const completionsCommand: CommandDef = {
  name: "completions",
  summary: "Print a shell completion script: bash, zsh or fish (commands, flags, environments).",
  args: SHELLS.join("|"),
  flags: [{ name: "help", short: "h", type: "boolean", description: "Show this help" }],
};

export function completions(
  ui: Ui,
  args: Parsed,
  defs: readonly CommandDef[],
): Promise<number> {
  const words = [...args.positional, ...args.rest];
  const shell = words[0] as Shell | undefined;
  if (words.length !== 1 || !shell || !SHELLS.includes(shell)) {
    throw new UsageError(
      `Name one shell: ${SHELLS.join(", ")}: got ${words.join(" ") || "nothing"}`,
      { hint: 'bash: eval "$(djaploy completions bash)" in ~/.bashrc' },
    );
  }
  ui.result(completionScript(shell, defs).trimEnd());
  return Promise.resolve(0);
}
