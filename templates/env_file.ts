import { textOrder } from "../lib/order.ts";

/**
 * The app's environment file. The same text is read by systemd
 * (EnvironmentFile=) and by POSIX sh (bin/run). Their single-quote rules
 * differ (systemd has no '\'' trick), but inside double quotes both take
 * a backslash before " \ ` $ as that character: so that is the encoding.
 */
export function envQuote(value: string): string {
  return `"${value.replace(/(["\\`$])/g, "\\$1")}"`;
}

/**
 * The file's text, variables in textOrder: the same on every machine whatever its locale.
 */
export function envFile(vars: ReadonlyMap<string, string>): string {
  const lines = ["# Written by djaploy from [env]. Do not edit: the next deploy rewrites it."];
  for (const [k, v] of [...vars].sort(([a], [b]) => textOrder(a, b))) {
    lines.push(`${k}=${envQuote(v)}`);
  }
  return lines.join("\n") + "\n";
}
