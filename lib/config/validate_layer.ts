/**
 * Validates the settings written at one level (djaploy.toml, an inventory's
 * [defaults], one [[hosts]] entry) against the schema, and normalizes their
 * values (secret references, module references, `~` in paths).
 */
import type { ModuleRef } from "./types.ts";
import type { ConfigProblem } from "./problems.ts";
import { suggestion } from "./did_you_mean.ts";
import {
  keyScopes,
  type KeySpec,
  moduleTableName,
  type ParseContext,
  type Scope,
  SCOPE_LABELS,
  SECTIONS,
  type SectionSpec,
  TOP_LEVEL_KEYS,
} from "./schema.ts";
import { describe, Invalid, isTable, noControlDeep, type PathSegment } from "./validators.ts";

/** Validated settings of one level: schema keys with normalized values, module tables as written. */
export type Layer = Readonly<Record<string, unknown>>;

export interface LayerInput {
  readonly scope: Scope;
  readonly table: Readonly<Record<string, unknown>>;
  /** The path of the table in its file, e.g. `["hosts", 0]`. */
  readonly prefix: readonly PathSegment[];
  readonly ctx: ParseContext;
  /** The modules in effect below this level: a custom module's table is allowed when it is listed. */
  readonly inheritedModules: readonly ModuleRef[];
}

export function validateLayer(input: LayerInput): { layer: Layer; problems: ConfigProblem[] } {
  const { scope, table, prefix, ctx } = input;
  const problems: ConfigProblem[] = [];
  const layer: Record<string, unknown> = {};
  const at = (...path: PathSegment[]) => [...prefix, ...path];
  const parseInto = (
    out: Record<string, unknown>,
    key: string,
    spec: KeySpec,
    value: unknown,
    path: PathSegment[],
  ) => {
    try {
      out[key] = spec.parse(value, ctx);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      problems.push({ path: [...path, ...e.at], message: e.problem });
    }
  };

  // Modules first: they decide which module tables this level may hold.
  if (table.modules !== undefined && keyScopes(TOP_LEVEL_KEYS.modules).includes(scope)) {
    parseInto(layer, "modules", TOP_LEVEL_KEYS.modules, table.modules, at("modules"));
  }
  const modules = (layer.modules ?? input.inheritedModules) as readonly ModuleRef[];
  const moduleTables = new Set(modules.map(moduleTableName).filter((n) => n !== undefined));

  // For an unknown key's message only: a layer per host of an inventory is checked.
  const allowedHere = () => [
    ...Object.entries(TOP_LEVEL_KEYS).filter(([, s]) => keyScopes(s).includes(scope)).map(([k]) =>
      k
    ),
    ...SECTIONS.filter((s) => s.scopes.includes(scope)).map((s) => s.name),
    ...moduleTables,
  ];

  for (const [key, value] of Object.entries(table)) {
    const spec = Object.hasOwn(TOP_LEVEL_KEYS, key) ? TOP_LEVEL_KEYS[key] : undefined;
    const section = SECTIONS.find((s) => s.name === key);
    if (spec !== undefined || section !== undefined) {
      const scopes = spec ? keyScopes(spec) : section!.scopes;
      if (!scopes.includes(scope)) {
        problems.push({ path: at(key), message: notAllowed(scope, scopes) });
      } else if (spec !== undefined) {
        if (key !== "modules") parseInto(layer, key, spec, value, at(key));
      } else {
        const out = validateSection(section!, value, at(key), ctx, problems);
        if (out !== undefined) layer[key] = out;
      }
    } else if (moduleTables.has(key)) {
      if (!isTable(value)) {
        problems.push({ path: at(key), message: `must be a table: got ${describe(value)}` });
      } else {
        try {
          noControlDeep(value);
          layer[key] = value;
        } catch (e) {
          if (!(e instanceof Invalid)) throw e;
          problems.push({ path: [...at(key), ...e.at], message: e.problem });
        }
      }
    } else {
      problems.push({
        path: prefix,
        linePath: at(key),
        message: unknownKey(key, value, allowedHere()),
      });
    }
  }

  for (const [key, spec] of Object.entries(TOP_LEVEL_KEYS)) {
    if (spec.required === scope && table[key] === undefined) {
      problems.push({ path: at(key), message: "is required" });
    }
  }
  return { layer, problems };
}

function validateSection(
  section: SectionSpec,
  value: unknown,
  path: PathSegment[],
  ctx: ParseContext,
  problems: ConfigProblem[],
): Record<string, unknown> | undefined {
  if (!isTable(value)) {
    problems.push({ path, message: `must be a table: got ${describe(value)}` });
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const spec = Object.hasOwn(section.keys, key) ? section.keys[key] : section.anyKey;
    if (spec === undefined) {
      problems.push({
        path,
        linePath: [...path, key],
        message: unknownKey(key, v, Object.keys(section.keys)),
      });
      continue;
    }
    if (spec === section.anyKey && !section.anyKey.pattern.test(key)) {
      problems.push({
        path,
        linePath: [...path, key],
        message: `${
          section.anyKey.label ?? "variable name"
        } must match ${section.anyKey.pattern.source}: got ${JSON.stringify(key)}`,
      });
      continue;
    }
    const badName = spec === section.anyKey ? section.anyKey.checkName?.(key) : undefined;
    if (badName !== undefined) {
      problems.push({
        path,
        linePath: [...path, key],
        message: `${section.anyKey!.label ?? "name"} ${badName}`,
      });
      continue;
    }
    try {
      out[key] = spec.parse(v, ctx);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      problems.push({ path: [...path, key, ...e.at], message: e.problem });
    }
  }
  return out;
}

function notAllowed(scope: Scope, allowed: readonly Scope[]): string {
  return `not allowed in ${SCOPE_LABELS[scope]}: allowed in ${
    allowed.map((s) => SCOPE_LABELS[s]).join(", ")
  }`;
}

/** `unknown key "x" (did you mean "y"?)`; a table gets a word on where tables come from. */
export function unknownKey(key: string, value: unknown, candidates: readonly string[]): string {
  const name = JSON.stringify(key);
  if (!isTable(value)) return `unknown key ${name}${suggestion(key, candidates)}`;
  return `unknown table ${name}${suggestion(key, candidates)}: a table must be a built-in ` +
    "section or be named after a custom module listed in modules";
}
