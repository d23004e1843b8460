/**
 * Merges the levels of settings (host > inventory [defaults] > djaploy.toml)
 * and fills in built-in and derived defaults, giving a complete HostConfig.
 */
import type { ArtifactConfig, HostConfig, PrepareConfig } from "./types.ts";
import type { Layer } from "./validate_layer.ts";
import {
  keyScopes,
  type KeySpec,
  moduleTableName,
  SECTIONS,
  type SectionSpec,
  TOP_LEVEL_KEYS,
} from "./schema.ts";
import { isTable } from "./validators.ts";

// The schema walked once, not for each host: a fleet's config resolves every key of it per host.
const TOP_LEVEL = Object.entries(TOP_LEVEL_KEYS);
/** Each section with its keys, and those of them whose default is derived, in schema order. */
const SECTION_KEYS = SECTIONS.map((section) => {
  const keys = Object.entries(section.keys);
  return { section, keys, derived: keys.filter(([, spec]) => spec.derive) };
});
const SECTION_NAMES = new Set(SECTIONS.map((s) => s.name));
const HOST_KEYS = TOP_LEVEL.filter(([, spec]) => keyScopes(spec).includes("host")).map(([k]) => k);
const HOST_SECTIONS = SECTIONS.filter((s) => s.scopes.includes("host")).map((s) => s.name);

/**
 * Merges layers, lowest first: scalars and arrays replace, built-in tables
 * merge key by key, module tables merge key by key at every depth.
 */
export function mergeLayers(layers: readonly Layer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) mergeInto(out, layer);
  return out;
}

/** Merges `layer` into `out`, which keeps what the layer does not set (its tables unchanged). */
function mergeInto(out: Record<string, unknown>, layer: Layer): Record<string, unknown> {
  for (const key of Object.keys(layer)) {
    const value = layer[key];
    if (SECTION_NAMES.has(key)) {
      out[key] = { ...(out[key] as Record<string, unknown> | undefined), ...(value as object) };
    } else if (Object.hasOwn(TOP_LEVEL_KEYS, key)) {
      out[key] = value;
    } else {
      out[key] = deepMerge(out[key], value);
    }
  }
  return out;
}

function deepMerge(lower: unknown, upper: unknown): unknown {
  if (!isTable(lower) || !isTable(upper)) return upper;
  const out: Record<string, unknown> = { ...lower };
  for (const [key, value] of Object.entries(upper)) out[key] = deepMerge(out[key], value);
  return out;
}

/** Every schema key with its value or default, in schema order; module tables as merged. */
export function resolveDefaults(
  merged: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const resolved: Record<string, unknown> = {};
  for (const [key, spec] of TOP_LEVEL) {
    const value = valueOf(spec, merged[key], resolved);
    if (value !== undefined) resolved[key] = value;
  }
  for (const { section, keys } of SECTION_KEYS) {
    const given = (merged[section.name] ?? {}) as Record<string, unknown>;
    resolved[section.name] = resolveSection(section, keys, given, resolved);
  }
  for (const [key, value] of Object.entries(merged)) {
    if (!Object.hasOwn(resolved, key)) resolved[key] = value;
  }
  return resolved;
}

/** A key's value: given, or its default, derived from `resolved` or a copy of the schema's. */
function valueOf(spec: KeySpec, given: unknown, resolved: Readonly<Record<string, unknown>>) {
  if (given !== undefined) return given;
  if (spec.derive) return spec.derive(resolved);
  // A copy of a table or list, which a host's settings may change; a string or number is its own.
  const value = spec.defaultValue;
  return typeof value === "object" && value !== null ? structuredClone(value) : value;
}

/** A section's keys with their values or defaults (derived ones read `resolved`). */
function resolveSection(
  section: SectionSpec,
  keys: readonly (readonly [string, KeySpec])[],
  given: Readonly<Record<string, unknown>>,
  resolved: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const table: Record<string, unknown> = section.anyKey ? { ...given } : {};
  for (const [key, spec] of keys) {
    const value = valueOf(spec, given[key], resolved);
    if (value !== undefined) table[key] = value;
  }
  return table;
}

/** Top-level keys whose default is derived from other settings, in schema order. */
const DERIVED = TOP_LEVEL.filter(([, spec]) => spec.derive);

/** Derives again each of `derived` that `given` leaves unset, into `table`. */
function deriveAgain(
  table: Record<string, unknown>,
  derived: readonly (readonly [string, KeySpec])[],
  given: Readonly<Record<string, unknown>> | undefined,
  resolved: Readonly<Record<string, unknown>>,
): void {
  for (const [key, spec] of derived) {
    if (given?.[key] !== undefined) continue;
    const value = spec.derive!(resolved);
    if (value === undefined) delete table[key];
    else table[key] = value;
  }
}

/**
 * Resolves the settings of hosts that share every layer below their own (an
 * inventory's hosts over djaploy.toml and [defaults]): the shared layers once,
 * then for each host what its own layer sets and the derived defaults, which
 * may read it. Each host's result is resolveDefaults(mergeLayers([...shared,
 * host])) (tests/config/build_host_test.ts holds them to it); values from the
 * shared layers are shared between hosts, and frozen with them. Resolving every
 * key of the schema for each host cost a fleet's config about 1 ms per host, most
 * of it V8 compiling the loop that a few dozen hosts made hot.
 */
export function hostResolver(
  shared: readonly Layer[],
): (host: Layer) => { merged: Record<string, unknown>; resolved: Record<string, unknown> } {
  const base = mergeLayers(shared);
  const baseResolved = resolveDefaults(base);
  return (host) => {
    // The shared layers' tables are copied only where the host's layer changes them.
    const merged = mergeInto({ ...base }, host);
    const resolved: Record<string, unknown> = { ...baseResolved };
    for (const key of Object.keys(host)) {
      if (!SECTION_NAMES.has(key)) resolved[key] = merged[key];
    }
    deriveAgain(resolved, DERIVED, merged, resolved);
    for (const { section, keys, derived } of SECTION_KEYS) {
      const given = merged[section.name] as Record<string, unknown> | undefined;
      if (host[section.name] !== undefined) {
        resolved[section.name] = resolveSection(section, keys, given ?? {}, resolved);
      } else if (derived.length > 0) {
        const table = { ...(resolved[section.name] as Record<string, unknown>) };
        deriveAgain(table, derived, given, resolved);
        resolved[section.name] = table;
      }
    }
    return { merged, resolved };
  };
}

/**
 * The HostConfig of merged settings: host-level keys and sections, and the
 * tables of its modules; `resolved` is resolveDefaults(merged), or the same
 * from hostResolver.
 */
export function buildHost(
  merged: Readonly<Record<string, unknown>>,
  resolved: Readonly<Record<string, unknown>> = resolveDefaults(merged),
): HostConfig {
  // Made from entries, not key by key: V8 keeps an object that grew by more than a dozen computed
  // keys as a dictionary, and a host's settings are read throughout its run.
  const entries: [string, unknown][] = [];
  for (const key of HOST_KEYS) {
    if (resolved[key] !== undefined) entries.push([key, resolved[key]]);
  }
  for (const name of HOST_SECTIONS) entries.push([name, resolved[name]]);
  const host: Record<string, unknown> = Object.fromEntries(entries);
  const modules = resolved.modules as HostConfig["modules"];
  const extra: Record<string, unknown> = {};
  for (const name of modules.map(moduleTableName)) {
    if (name !== undefined && Object.hasOwn(merged, name) && !isSchemaKey(name)) {
      extra[name] = merged[name];
    }
  }
  host.extra = extra;
  // The shape is the schema's; tests/config/types_schema_test.ts proves HostConfig matches it.
  return deepFreeze(host) as unknown as HostConfig;
}

/** The [prepare] settings of djaploy.toml with defaults. */
export function buildPrepare(project: Layer): PrepareConfig {
  return deepFreeze(resolveDefaults(project).prepare) as PrepareConfig;
}

/** The [artifact] settings of djaploy.toml with defaults. */
export function buildArtifactConfig(project: Layer): ArtifactConfig {
  return deepFreeze(resolveDefaults(project).artifact) as ArtifactConfig;
}

function isSchemaKey(key: string): boolean {
  return Object.hasOwn(TOP_LEVEL_KEYS, key) || SECTION_NAMES.has(key);
}

/** Freezes plain objects and arrays, all the way down. */
export function deepFreeze<T>(value: T): T {
  if ((Array.isArray(value) || isTable(value)) && !frozenDown.has(value)) {
    for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
    frozenDown.add(value);
  }
  return value;
}

/**
 * What deepFreeze froze all the way down: the hosts of an inventory share the
 * values of its shared layers (hostResolver), walked once, not once per host.
 */
const frozenDown = new WeakSet<object>();
