/** `djaploy verify`: is the config valid, are the local tools there, can every host be reached? */
import type { CommandDef, Parsed } from "../cli/args.ts";
import { loadConfig, openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS, runPlan } from "./common.ts";
import { runProcess } from "../exec/process.ts";
import { UserError } from "../errors.ts";
import type { Step } from "../engine/module_api.ts";
import { shScript } from "../exec/remote_command.ts";
import { confinedUnits, EXPOSURE_SH, parseExposure, WEB_TARGET } from "../host/confinement.ts";
import { processUnits, scheduleUnitNames } from "../deploy/processes.ts";
import { backupLayout } from "../backup/layout.ts";
import { describeBackup } from "../backup/databases.ts";
import { LITESTREAM_UNIT } from "../backup/litestream.ts";
import { RENEW_UNIT } from "../../templates/cert_scripts.ts";
import type { StepContext } from "../engine/module_api.ts";

export const verifyCommand: CommandDef = {
  name: "verify",
  summary:
    "Check the configuration, the local tools (ssh, rsync, git) and, with --env, that every host answers with sudo.",
  flags: [...HOST_FLAGS, ...COMMON_FLAGS],
};

const TOOLS: readonly [string, string[]][] = [["ssh", ["-V"]], ["rsync", ["--version"]], ["git", [
  "--version",
]]];

const TOOLS_ON_HOST_SH =
  'for t in "$1" "$2" "$3"; do command -v "$t" >/dev/null || echo "missing $t"; done';

/** The units djaploy writes for this host, from its strategy and modules. */
function hostUnits(ctx: StepContext) {
  const uses = (name: string) =>
    ctx.host.modules.some((m) => m.kind === "builtin" && m.spec === name);
  // The processes and scheduled jobs run the app's code, confined as the web unit is.
  const processes = [
    ...processUnits(ctx.host),
    ...ctx.host.schedule.map((e) => scheduleUnitNames(ctx.host, e.name).service),
  ].map((unit) => ({ unit, target: WEB_TARGET }));
  return [
    ...confinedUnits(ctx.host, ctx.layout, {
      backupServices: (["rclone", "borg"] as const).filter(uses).map((b) =>
        backupLayout(ctx.host, ctx.layout, b).serviceName
      ),
      litestream: uses("litestream") ? LITESTREAM_UNIT : undefined,
      certRenewal: uses("cert_renewal") ? `${RENEW_UNIT}.service` : undefined,
    }),
    ...processes,
  ];
}

/**
 * One round trip: sudo works, the tools djaploy needs are there, and how
 * exposed each unit djaploy wrote is (`systemd-analyze security`).
 */
const access: Step = {
  name: "sudo and tools",
  async run(ctx) {
    const units = hostUnits(ctx);
    const r = await ctx.exec.run({
      argv: shScript(
        `${TOOLS_ON_HOST_SH}\nshift 3\n${EXPOSURE_SH}\ntrue`,
        "rsync",
        `python${ctx.host.python_version}`,
        "nginx",
        ...units.map((u) => u.unit),
      ),
      as: "root",
      readOnly: true,
    });
    const missing = [...r.stdout.matchAll(/^missing (\S+)$/gm)].map((m) => m[1]);
    if (missing.length) {
      ctx.log.info(`not installed yet: ${missing.join(", ")} (djaploy configure installs them)`);
    }
    const scores = parseExposure(r.stdout);
    for (const { unit, target } of units) {
      const s = scores.get(unit);
      if (!s) continue;
      const verdict = s.exposure <= target
        ? `target <= ${target.toFixed(1)}`
        : `above the target ${target.toFixed(1)}`;
      ctx.log.info(`${unit} exposure ${s.exposure.toFixed(1)} ${s.predicate} (${verdict})`);
    }
    for (const backend of ["rclone", "borg"] as const) {
      if (ctx.host.modules.some((m) => m.spec === backend)) {
        ctx.log.info(describeBackup(ctx.host, ctx.layout, backend));
      }
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
