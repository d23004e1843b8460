/**
 * `manage.py check --deploy` on this machine, for `djaploy init`: Django's
 * own list of what a production settings file should change. It runs only
 * when a Python that imports Django is here (the project's virtualenv,
 * python3, or the system's); otherwise it says why it did not run.
 */
import { dirname, join } from "../paths.ts";
import { runProcess } from "../exec/process.ts";
import { DJANGO_CHECK_SH } from "./programs.gen.ts";

export interface DeployCheckIssue {
  /** Django's check id, e.g. `security.W004`. */
  readonly id: string;
  readonly message: string;
}

export type DeployCheckResult =
  | { readonly ran: true; readonly python: string; readonly issues: DeployCheckIssue[] }
  | { readonly ran: false; readonly reason: string };

/** The check lines of Django's output: `?: (security.W004) You have not set ...`. */
export function parseCheckOutput(text: string): DeployCheckIssue[] {
  const issues: DeployCheckIssue[] = [];
  for (const m of text.matchAll(/^\S*: \(([\w.]+\.[CEW]\d+)\) (.+)$/gm)) {
    issues.push({ id: m[1], message: m[2].trim() });
  }
  return issues;
}

// django_check.sh tries each Python in turn; 127 when none imports Django.

/**
 * Runs `manage.py check --deploy` in the project with `env` added to this
 * process's environment (the values the servers will have).
 */
export async function runDeployCheck(
  root: string,
  managePy: string,
  env: Readonly<Record<string, string>>,
  timeoutMs = 60_000,
): Promise<DeployCheckResult> {
  const manageDir = dirname(join(root, managePy));
  const pythons = [
    ...[".venv", "venv", "env"].flatMap((
      v,
    ) => [join(root, v, "bin/python"), join(manageDir, v, "bin/python")]),
    "python3",
    "/usr/bin/python3",
  ];
  const r = await runProcess(
    "sh",
    ["-c", DJANGO_CHECK_SH, "sh", join(root, managePy), ...new Set(pythons)],
    {
      cwd: manageDir,
      env: { ...Deno.env.toObject(), PYTHONDONTWRITEBYTECODE: "1", ...env },
      signal: AbortSignal.timeout(timeoutMs),
    },
  ).catch((err) => ({ code: -1, stdout: "", stderr: String(err), ms: 0 }));
  if (r.code === 127) return { ran: false, reason: "no Python here imports Django" };
  const python = /^python: (.+)$/m.exec(r.stderr)?.[1] ?? "python3";
  const issues = parseCheckOutput(r.stderr + "\n" + r.stdout);
  if (r.code !== 0 && issues.length === 0) {
    const last = r.stderr.trim().split("\n").filter((l) => !l.startsWith("python: ")).slice(-3);
    return { ran: false, reason: `it failed with exit code ${r.code}: ${last.join(" / ")}` };
  }
  return { ran: true, python, issues };
}
