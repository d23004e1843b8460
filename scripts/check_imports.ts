/**
 * Fails when an import points the wrong way or closes a cycle.
 *
 *   deno run --allow-read --allow-run scripts/check_imports.ts
 *
 * The graph comes from `deno info --json` of the entry points (cli.ts,
 * mod.ts); only the repository's own files count. Every file belongs to one
 * layer of LAYERS (named exactly, else the first glob that matches); a layer may import itself and the
 * layers in its `may` list, nothing else. A layer marked `isolated` is a set
 * of folders that may not import each other (one built-in module may not
 * import another). No file may reach itself through its imports. And no file
 * outside lib/strategies/ (and the config) compares a strategy's name.
 *
 * The rules are data: when folders move, edit LAYERS, and the map in
 * docs/how-it-works.md ("Which file may import which").
 */

import { fileURLToPath } from "node:url";

/** One layer: the files in it and the layers it may import. */
export interface Layer {
  readonly name: string;
  /** Paths relative to the repository: `lib/commands/**`, `lib/*.ts`, `cli.ts`. */
  readonly files: readonly string[];
  /** The layers this one may import (besides itself). */
  readonly may: readonly string[];
  /** Each folder matched by this glob is on its own: it may not import a sibling folder. */
  readonly isolated?: string;
  /** Only these files (of other layers) may import this layer. */
  readonly importedOnlyBy?: readonly string[];
}

const BASE = ["base"];
const CONFIG = ["config", ...BASE];
const TEMPLATES = ["templates", ...CONFIG];
const HOST = ["host", ...TEMPLATES];
const STEPS = ["steps", ...HOST];

/**
 * From the top (the CLI) down to the base; a layer imports only layers below
 * it. `cli → commands → engine → {strategies, modules} → host/exec → config → base`,
 * with the module API (mod.ts) between the modules and what it re-exports.
 */
export const LAYERS: readonly Layer[] = [
  {
    name: "cli",
    files: ["cli.ts"],
    may: ["commands", "engine", "builtins", "strategies", ...STEPS],
  },
  {
    name: "commands",
    files: ["lib/commands/**", "lib/cli/completion_scripts.ts"],
    may: ["engine", "strategies", ...STEPS],
  },
  // The table of the built-in modules by name: cli.ts hands it to the module
  // loader (provideBuiltinModules), which reads it as it reads a user's module.
  {
    name: "builtins",
    files: ["modules/builtin.ts"],
    may: ["modules", "api"],
    importedOnlyBy: ["cli.ts"],
  },
  // Built-in modules are written as a user's module is: against mod.ts only,
  // plus their templates (pure functions and embedded programs, which a
  // user's module keeps in its own folder; the folder move puts them there).
  { name: "modules", files: ["modules/**"], may: ["api", "templates"], isolated: "modules/*" },
  { name: "api", files: ["mod.ts"], may: STEPS },
  { name: "strategies", files: ["lib/strategies/**"], may: STEPS },
  // What strategies, modules and the engine share: the deploy steps and what
  // they are built from (processes, the live target, unit confinement).
  {
    name: "steps",
    files: [
      "lib/deploy/steps.ts",
      "lib/deploy/processes.ts",
      "lib/deploy/live_target.ts",
      "lib/deploy/version_file.ts",
      "lib/host/confinement.ts",
      "lib/deploy/dependencies.ts",
      "lib/django/static_inputs.ts",
      "lib/host/verified_download.ts",
      "lib/backup/module_steps.ts",
      "lib/backup/layout.ts",
      "lib/backup/rclone_conf.ts",
      "lib/backup/secrets.ts",
      "lib/certs/plan.ts",
      "lib/certs/https.ts",
      "lib/certs/tailnet.ts",
      "lib/backup/borg.ts",
      "lib/backup/rclone.ts",
      "lib/backup/litestream.ts",
      "lib/host/nginx.ts",
    ],
    may: HOST,
  },
  // Running commands on a server: executors, ssh, facts, remote files, and
  // the step contract (lib/engine/module_api.ts) they are handed in.
  {
    name: "host",
    files: [
      // The strategies' traits by name (has slots, stages): a table that
      // imports no strategy, read by probes, confinement and the live target.
      "lib/strategies/traits.ts",
      "lib/engine/module_api.ts",
      "lib/exec/executor.ts",
      "lib/exec/recording_executor.ts",
      "lib/exec/process.ts",
      "lib/exec/ssh.ts",
      "lib/exec/ssh_mux.ts",
      "lib/exec/remote_command.ts",
      "lib/host/remote_ops.ts",
      "lib/host/facts.ts",
      "lib/host/probes.ts",
      "lib/exec/chain.ts",
      "lib/host/deploy_lock.ts",
      "lib/secrets/op.ts",
      "lib/secrets/resolve.ts",
    ],
    may: TEMPLATES,
  },
  // Pure (data) => string functions and the programs they embed.
  { name: "templates", files: ["templates/**"], may: CONFIG },
  {
    name: "config",
    files: [
      "lib/config/**",
      "lib/host/layout.ts",
      "lib/django/project.ts",
      "lib/django/settings.ts",
      "lib/backup/cron.ts",
      "lib/backup/databases.ts",
      // The table of systemd protections: data the config validates against.
      "templates/hardening.ts",
      "lib/backup/secret_refs.ts",
      "lib/cache.ts",
    ],
    may: BASE,
  },
  {
    name: "base",
    files: [
      "lib/errors.ts",
      "lib/secrets/secret.ts",
      "lib/shell.ts",
      "lib/paths.ts",
      "lib/remote_path.ts",
      "lib/exec/marker.ts",
      "lib/exec/limiter.ts",
      "lib/version.ts",
      "lib/cli/args.ts",
      "lib/output/ui.ts",
      "lib/output/stdout.ts",
      "lib/output/live_status.ts",
      "lib/release/report.ts",
      "lib/hash.ts",
      "lib/node_builtins.ts",
      "lib/run_table.ts",
      "lib/order.ts",
      "lib/config/did_you_mean.ts",
      // The embedded programs (scripts/embed.ts): string constants.
      "lib/**/programs.gen.ts",
    ],
    may: [],
  },
  // Everything else under lib/: sessions, the runner, releases, certificates, backups.
  { name: "engine", files: ["lib/**"], may: ["builtins", "strategies", ...STEPS] },
];

/** The entry points whose imports are checked. */
export const ENTRIES: readonly string[] = ["cli.ts", "mod.ts"];

/** An import from one repository file to another (paths relative to the repository). */
export interface Edge {
  readonly from: string;
  readonly to: string;
}

function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else re += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * The layer a file belongs to, or undefined when no layer names it. A layer
 * that names the file itself wins over one whose glob matches it, so a file
 * can sit below the folder it is in (templates/hardening.ts is config data).
 */
export function layerOf(file: string, layers: readonly Layer[] = LAYERS): Layer | undefined {
  return layers.find((l) => l.files.includes(file)) ??
    layers.find((l) => l.files.some((g) => globRegExp(g).test(file)));
}

/** The folder of `file` matched by an `isolated` glob such as `modules/*`. */
function isolatedFolder(file: string, glob: string): string | undefined {
  const depth = glob.split("/").length;
  const folder = file.split("/").slice(0, depth).join("/");
  return file.split("/").length > depth && globRegExp(glob).test(folder) ? folder : undefined;
}

/** Every import that points the wrong way, and every file no layer names, as messages. */
export function wrongWay(edges: readonly Edge[], layers: readonly Layer[] = LAYERS): string[] {
  const problems: string[] = [];
  const unplaced = new Set<string>();
  for (const { from, to } of edges) {
    const a = layerOf(from, layers);
    const b = layerOf(to, layers);
    for (const [file, layer] of [[from, a], [to, b]] as const) {
      if (!layer && !unplaced.has(file)) {
        unplaced.add(file);
        problems.push(`${file}: is in no layer: add it to LAYERS in scripts/check_imports.ts`);
      }
    }
    if (!a || !b) continue;
    if (a === b) {
      if (a.isolated) {
        const fa = isolatedFolder(from, a.isolated);
        const fb = isolatedFolder(to, a.isolated);
        if (fa !== fb) {
          problems.push(
            `${from} imports ${to}: ${fa} may not import ${fb}; share it through mod.ts or lib/`,
          );
        }
      }
      continue;
    }
    if (!a.may.includes(b.name)) {
      problems.push(
        `${from} imports ${to}: ${a.name} may not import ${b.name} ` +
          `(${a.name} may import ${[a.name, ...a.may].join(", ")})`,
      );
    } else if (b.importedOnlyBy && !b.importedOnlyBy.includes(from)) {
      problems.push(
        `${from} imports ${to}: only ${b.importedOnlyBy.join(", ")} may import ${b.name}`,
      );
    }
  }
  return problems;
}

/** Each import cycle once, as the files around it (`a.ts -> b.ts -> a.ts`). */
export function cycles(edges: readonly Edge[]): string[] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!next.has(from)) next.set(from, []);
    next.get(from)!.push(to);
  }
  // Tarjan's strongly connected components; each with more than one file,
  // or a file importing itself, holds a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (next.get(v) ?? []).includes(v)) {
      found.push(cyclePath(new Set(component), next));
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** One concrete loop through a strongly connected component, from its first file. */
function cyclePath(component: Set<string>, next: Map<string, string[]>): string {
  const start = [...component].sort()[0];
  // Breadth-first back to the start: the shortest loop, the easiest to read.
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of next.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = from.get(u)!) path.splice(1, 0, u);
        return [...path, start].join(" -> ");
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component].join(" -> ");
}

/** One module of `deno info --json`'s output, with what it imports. */
interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly specifier: string;
    readonly code?: { readonly specifier?: string };
    readonly type?: { readonly specifier?: string };
  }[];
}

/**
 * The modules of `deno info --json`'s output, and a function that gives a specifier's path in the
 * repository at `root` (undefined for anything outside it: npm packages, Node modules).
 */
function infoModules(
  info: unknown,
  root: string,
): { modules: InfoModule[]; local: (s: string | undefined) => string | undefined } {
  const prefix = new URL(root.endsWith("/") ? root : `${root}/`, "file:///").href;
  return {
    modules: (info as { modules?: InfoModule[] }).modules ?? [],
    local: (s) => s?.startsWith(prefix) ? decodeURIComponent(s.slice(prefix.length)) : undefined,
  };
}

/** The repository's own imports, from the output of `deno info --json`. */
export function edgesFromDenoInfo(info: unknown, root: string): Edge[] {
  const { modules, local } = infoModules(info, root);
  const edges: Edge[] = [];
  for (const m of modules) {
    const from = local(m.specifier);
    if (!from) continue;
    for (const d of m.dependencies ?? []) {
      const to = local(d.code?.specifier) ?? local(d.type?.specifier);
      if (to) edges.push({ from, to });
    }
  }
  return edges;
}

/**
 * Deno's Node modules that a repository file may import at the top: each loads at every start,
 * and the first one loads Deno's Node layer as well. The others (node:crypto: a third of the
 * bundled djaploy's start) come through lib/node_builtins.ts, on first use; a type import
 * (`import type`, `typeof import(...)`) loads nothing.
 */
export const NODE_AT_START: readonly string[] = [
  "node:path",
  "node:path/posix",
  "node:url",
  "node:timers",
];

/** Each import of a Node module outside NODE_AT_START that loads at start, as a message. */
export function nodeAtStart(info: unknown, root: string): string[] {
  const { modules, local } = infoModules(info, root);
  const problems: string[] = [];
  for (const m of modules) {
    const from = local(m.specifier);
    if (!from) continue;
    for (const d of m.dependencies ?? []) {
      if (!d.specifier.startsWith("node:") || !d.code || NODE_AT_START.includes(d.specifier)) {
        continue;
      }
      problems.push(
        `${from} imports ${d.specifier}: it would load at every start; load it on first use ` +
          "(lib/node_builtins.ts), or use Web Crypto for hashing (lib/hash.ts)",
      );
    }
  }
  return problems;
}

async function denoInfo(entry: string, root: string): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`deno info --json ${entry} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The strategies' names: only lib/strategies/ (and the config that accepts them) may compare them. */
const STRATEGY_NAME = String.raw`"(?:in_place|zero_downtime|bluegreen)"`;
const NAME_TEST = new RegExp(
  String.raw`(?:[!=]==\s*${STRATEGY_NAME}|${STRATEGY_NAME}\s*[!=]==|case\s+${STRATEGY_NAME}|` +
    String.raw`\.includes\(\s*${STRATEGY_NAME})`,
);
const MAY_NAME_STRATEGIES = /^(lib\/strategies\/|lib\/config\/)/;

/**
 * Strategy behaviour chosen by comparing a strategy's name outside
 * lib/strategies/: each such line, as a message. A strategy carries its
 * behaviour (lib/strategies/strategy.ts) and traits (traits.ts) instead.
 */
export function strategyNameTests(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of files) {
    if (MAY_NAME_STRATEGIES.test(file)) continue;
    text.split("\n").forEach((line, i) => {
      if (NAME_TEST.test(line)) {
        problems.push(
          `${file}:${
            i + 1
          }: compares a strategy's name: ask its traits (lib/strategies/traits.ts) ` +
            `or the Strategy instead: ${line.trim()}`,
        );
      }
    });
  }
  return problems;
}

/** Checks the repository at `root`: the problems found, none when it passes. */
export async function checkRepository(root: string): Promise<string[]> {
  const seen = new Set<string>();
  const edges: Edge[] = [];
  const nodeImports = new Set<string>();
  for (const entry of ENTRIES) {
    const info = await denoInfo(entry, root);
    for (const p of nodeAtStart(info, root)) nodeImports.add(p);
    for (const e of edgesFromDenoInfo(info, root)) {
      const key = `${e.from}\0${e.to}`;
      if (!seen.has(key)) {
        seen.add(key);
        edges.push(e);
      }
    }
  }
  const sources = new Map<string, string>();
  for (const file of new Set(edges.flatMap((e) => [e.from, e.to]))) {
    if (file.endsWith(".ts") && !file.endsWith(".gen.ts")) {
      sources.set(file, await Deno.readTextFile(`${root}/${file}`));
    }
  }
  return [
    ...wrongWay(edges),
    ...cycles(edges).map((c) => `import cycle: ${c}`),
    ...strategyNameTests(sources),
    ...nodeImports,
  ];
}

if (import.meta.main) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const problems = await checkRepository(root);
  if (problems.length) {
    const summary = `check_imports: ${problems.length} problem(s); the rules: docs/how-it-works.md`;
    Deno.stderr.writeSync(new TextEncoder().encode([...problems, summary, ""].join("\n")));
    Deno.exit(1);
  }
}
