/**
 * The app's environment file. The same text is read by systemd
 * (EnvironmentFile=) and by POSIX sh (bin/run), so values are single-quoted,
 * which both read the same way.
 */
import { quote } from "../lib/shell.ts";

export function envFile(vars: ReadonlyMap<string, string>): string {
  const lines = ["# Written by djaploy from [env]. Do not edit: the next deploy rewrites it."];
  for (const [k, v] of [...vars].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`${k}=${quote(v)}`);
  }
  return lines.join("\n") + "\n";
}
