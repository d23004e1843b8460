/**
 * Merges the levels of settings (host > inventory [defaults] > djaploy.toml)
 * and fills in built-in and derived defaults, giving a complete HostConfig.
 */
import type { ArtifactConfig, HostConfig, PrepareConfig } from "./types.ts";
import type { Layer } from "./validate_layer.ts";
import { keyScopes, type KeySpec, moduleTableName, SECTIONS, TOP_LEVEL_KEYS } from "./schema.ts";
import { isTable } from "./validators.ts";

/**
 * Merges layers, lowest first: scalars and arrays replace, built-in tables
 * merge key by key, module tables merge key by key at every depth.
 */
export function mergeLayers(layers: readonly Layer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (SECTIONS.some((s) => s.name === key)) {
        out[key] = { ...(out[key] as Record<string, unknown> | undefined), ...(value as object) };
      } else if (Object.hasOwn(TOP_LEVEL_KEYS, key)) {
        out[key] = value;
      } else {
        out[key] = deepMerge(out[key], value);
      }
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
  const valueOf = (spec: KeySpec, given: unknown) => {
    if (given !== undefined) return given;
    if (spec.derive) return spec.derive(resolved);
    return spec.defaultValue === undefined ? undefined : structuredClone(spec.defaultValue);
  };
  for (const [key, spec] of Object.entries(TOP_LEVEL_KEYS)) {
    const value = valueOf(spec, merged[key]);
    if (value !== undefined) resolved[key] = value;
  }
  for (const section of SECTIONS) {
    const given = (merged[section.name] ?? {}) as Record<string, unknown>;
    const table: Record<string, unknown> = section.anyKey ? { ...given } : {};
    for (const [key, spec] of Object.entries(section.keys)) {
      const value = valueOf(spec, given[key]);
      if (value !== undefined) table[key] = value;
    }
    resolved[section.name] = table;
  }
  for (const [key, value] of Object.entries(merged)) {
    if (!Object.hasOwn(resolved, key)) resolved[key] = value;
  }
  return resolved;
}

/** The HostConfig of merged settings: host-level keys and sections, and the tables of its modules. */
export function buildHost(merged: Readonly<Record<string, unknown>>): HostConfig {
  const resolved = resolveDefaults(merged);
  const host: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(TOP_LEVEL_KEYS)) {
    if (keyScopes(spec).includes("host") && resolved[key] !== undefined) host[key] = resolved[key];
  }
  for (const section of SECTIONS) {
    if (section.scopes.includes("host")) host[section.name] = resolved[section.name];
  }
  const modules = resolved.modules as HostConfig["modules"];
  const extra: Record<string, unknown> = {};
  for (const name of modules.map(moduleTableName)) {
    if (name !== undefined && Object.hasOwn(merged, name) && !isSchemaKey(name)) {
      extra[name] = merged[name];
    }
  }
  host.extra = extra;
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
  return Object.hasOwn(TOP_LEVEL_KEYS, key) || SECTIONS.some((s) => s.name === key);
}

/** Freezes plain objects and arrays, all the way down. */
export function deepFreeze<T>(value: T): T {
  if (Array.isArray(value) || isTable(value)) {
    for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
