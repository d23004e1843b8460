/** `djaploy history`: the recent deploys, activations and rollbacks, read from every host. */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS, sessionRunOptions } from "./common.ts";
import { layoutFor } from "../host/layout.ts";
import { runOnHosts } from "../engine/runner.ts";
import {
  historyProbe,
  type HistoryRecord,
  historyTable,
  mergeHistory,
} from "../host/history_records.ts";
import { errorSummary } from "../engine/runner.ts";

export const historyCommand = {
  name: "history",
  summary:
    "The recent deploys, activations and rollbacks on the environment's hosts, newest first.",
  flags: [
    ...HOST_FLAGS,
    { name: "limit", type: "number", valueName: "N", description: "Show N records (default 20)" },
    { name: "json", type: "boolean", description: "Print JSON (an array of records)" },
    ...COMMON_FLAGS,
  ],
} as const satisfies CommandDef;

export async function history(ui: Ui, args: ParsedFor<typeof historyCommand>): Promise<number> {
  const limit = args.flags.limit ?? 20;
  // Step lines would get in the way of a table or JSON.
  const quiet = args.flags.verbose ? ui : ui.withVerbosity("quiet");
  const s = await openSession(quiet, args.flags, "history");
  try {
    const perHost = new Map<string, HistoryRecord[]>();
    const results = await runOnHosts({
      ...sessionRunOptions(s, quiet),
      plan: (host) => {
        const probe = historyProbe(layoutFor(host), limit);
        return {
          steps: [{
            name: "read history",
            run(ctx) {
              perHost.set(host.name, ctx.facts.get(probe));
              return Promise.resolve();
            },
          }],
          probes: [probe],
          files: [],
          packages: [],
        };
      },
    });
    for (const r of results) {
      if (!r.ok) ui.error(`${r.host}: ${errorSummary(r.error)}`);
    }
    const records = mergeHistory([...perHost.values()], limit);
    if (args.flags.json) {
      ui.result(JSON.stringify(records, null, 2));
    } else if (records.length === 0) {
      ui.result(`No history on ${s.hosts.map((h) => h.name).join(", ")} yet.`);
    } else {
      for (const line of historyTable(records)) ui.result(line);
    }
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await s.close();
  }
}
