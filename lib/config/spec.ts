/**
 * The shape of the schema: what a key and a section declare. Its own file so
 * the section files (operations, release, processes) and schema.ts can all
 * use it without importing each other.
 */
import type { ParseContext } from "./validators.ts";

/** Where a key may be written: djaploy.toml, an inventory's [defaults], or one of its [[hosts]]. */
export type Scope = "project" | "defaults" | "host";

export interface KeySpec {
  /** The type as shown in the docs. */
  readonly type: string;
  /** One line of markdown: what the key means. */
  readonly doc: string;
  /** Where the key may be written; a section's keys follow the section. */
  readonly scopes?: readonly Scope[];
  /** The scope in which the key must be written. */
  readonly required?: Scope;
  readonly parse: (value: unknown, ctx: ParseContext) => unknown;
  /** The built-in value when no level sets the key. */
  readonly defaultValue?: unknown;
  /** A default computed from the settings resolved before this key (schema order). */
  readonly derive?: (resolved: Readonly<Record<string, unknown>>) => unknown;
  /** The default as shown in the docs (markdown), when the value itself does not say it. */
  readonly defaultText?: string;
}

export interface SectionSpec {
  /** The table name, e.g. `gunicorn` for `[gunicorn]`. */
  readonly name: string;
  readonly doc: string;
  readonly scopes: readonly Scope[];
  readonly keys: Readonly<Record<string, KeySpec>>;
  /** Markdown shown after the section's key table in docs/configuration.md. */
  readonly notes?: string;
  /** For a table of free-form keys (`[env]`): the rule for any key. */
  readonly anyKey?:
    & {
      readonly pattern: RegExp;
      /** What a key is, in errors ("variable name" when not given). */
      readonly label?: string;
      /** A further rule for the key's name: the problem, or undefined when it passes. */
      readonly checkName?: (key: string) => string | undefined;
    }
    & KeySpec;
}
