/** `djaploy verify`: is the config valid, are the local tools there, can every host be reached? */
import type { CommandDef, Parsed } from "../cli_args.ts";
import { loadConfig, openSession } from "../session.ts";
import type { Ui } from "../ui.ts";
import { COMMON_FLAGS, HOST_FLAGS, runPlan } from "./common.ts";
import { runProcess } from "../process.ts";
import { UserError } from "../errors.ts";
import type { Step } from "../module.ts";
import { shScript } from "../remote_command.ts";

export const verifyCommand: CommandDef = {
  name: "verify",
  summary:
    "Check the configuration, the local tools (ssh, rsync, git) and, with --env, that every host answers with sudo.",
  flags: [...HOST_FLAGS, ...COMMON_FLAGS],
};

const TOOLS: readonly [string, string[]][] = [["ssh", ["-V"]], ["rsync", ["--version"]], ["git", [
  "--version",
]]];

const access: Step = {
  name: "sudo and tools",
  async run(ctx) {
    const r = await ctx.exec.run({
      argv: shScript(
        'for t; do command -v "$t" >/dev/null || echo "$t"; done; true',
        "rsync",
        `python${ctx.host.python_version}`,
        "nginx",
      ),
      as: "root",
      readOnly: true,
    });
    const missing = r.stdout.split("\n").filter(Boolean);
    if (missing.length) {
      ctx.log.info(`not installed yet: ${missing.join(", ")} (djaploy configure installs them)`);
    }
  },
};

export async function verify(ui: Ui, args: Parsed): Promise<number> {
  const project = await loadConfig(args.flags);
  ui.line(
    `config: ${project.config_path}: ok (environments: ${
      project.environments.join(", ") || "none"
    })`,
  );
  for (const [tool, targs] of TOOLS) {
    const r = await runProcess(tool, targs).catch(() => undefined);
    if (!r || r.code !== 0) {
      throw new UserError(`Install ${tool}: it is needed on this machine and was not found`);
    }
    ui.line(`${tool}: ${(r.stdout || r.stderr).split("\n")[0].trim()}`);
  }
  if (!args.flags.env) return 0;
  const s = await openSession(ui, args.flags, "verify");
  try {
    const results = await runPlan(s, {
      title: `verify ${s.env.name}`,
      plan: () => Promise.resolve({ steps: [access], probes: [], files: [], packages: [] }),
    });
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await s.close();
  }
}
