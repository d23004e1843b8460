/**
 * lib/config/types.ts is a hand-written copy of the schema (the loader
 * builds a HostConfig from the schema and casts it): this proves the copy
 * matches. Every host key and section of the schema is a property of
 * HostConfig and each section's interface has exactly the section's keys;
 * a property is optional exactly when the schema has no default and does not
 * require the key; its TypeScript type is of the schema's kind, and a choice
 * ("a" | "b") lists the same values.
 */
import assert from "node:assert/strict";
import { keyScopes, type KeySpec, SECTIONS, TOP_LEVEL_KEYS } from "../../lib/config/schema.ts";

interface TsType {
  readonly repr?: string;
  readonly kind: string;
  // deno-lint-ignore no-explicit-any
  readonly value?: any;
}
interface Prop {
  readonly name: string;
  readonly optional?: boolean;
  readonly tsType: TsType;
}
interface DocSymbol {
  readonly name: string;
  readonly declarations: readonly {
    readonly kind: string;
    // deno-lint-ignore no-explicit-any
    readonly def: any;
  }[];
}

async function typesDoc(): Promise<Map<string, DocSymbol>> {
  const file = new URL("../../lib/config/types.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", file.href],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "deno doc --json lib/config/types.ts");
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const node = json.nodes[file.href] as { symbols: DocSymbol[] };
  return new Map(node.symbols.map((s) => [s.name, s]));
}

function properties(symbols: Map<string, DocSymbol>, name: string): Map<string, Prop> {
  const decl = symbols.get(name)?.declarations.find((d) => d.kind === "interface");
  assert.ok(decl, `${name} is an interface in lib/config/types.ts`);
  return new Map((decl.def.properties as Prop[]).map((p) => [p.name, p]));
}

/** The string literals of a union type alias, e.g. Strategy. */
function literals(symbols: Map<string, DocSymbol>, t: TsType): string[] | undefined {
  const alias = t.kind === "typeRef" && t.repr
    ? symbols.get(t.repr)?.declarations.find((d) => d.kind === "typeAlias")
    : undefined;
  const union: TsType | undefined = alias?.def.tsType;
  if (union?.kind !== "union") return undefined;
  return (union.value as TsType[]).map((m) => m.kind === "literal" ? String(m.value.string) : "?");
}

/** What is wrong with `prop` as the TypeScript side of `spec`, or undefined. */
function mismatch(
  symbols: Map<string, DocSymbol>,
  where: string,
  spec: KeySpec,
  prop: Prop,
): string | undefined {
  const optional = spec.defaultValue === undefined && !spec.derive && !spec.required;
  if (Boolean(prop.optional) !== optional) {
    return `${where}: optional in types.ts is ${
      Boolean(prop.optional)
    }, the schema says ${optional}`;
  }
  const t = prop.tsType;
  const choices = [...spec.type.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  const isArray = t.kind === "array" ||
    (t.kind === "typeOperator" && t.value.tsType.kind === "array");
  if (choices.length && spec.type.startsWith('"')) {
    const values = literals(symbols, t);
    if (!values || values.join() !== choices.join()) {
      return `${where}: the schema allows ${choices.join(", ")}; ${t.repr} allows ${values}`;
    }
  } else if (spec.type === "boolean" && t.repr !== "boolean") {
    return `${where}: a boolean in the schema, ${t.repr} in types.ts`;
  } else if (/^(integer|number)$/.test(spec.type) && t.repr !== "number") {
    return `${where}: a number in the schema, ${t.repr} in types.ts`;
  } else if (spec.type.startsWith("array") && !isArray) {
    return `${where}: an array in the schema, ${t.repr ?? t.kind} in types.ts`;
  } else if (
    spec.type.startsWith("string") && !["string", "SecretRef"].includes(t.repr ?? "") &&
    !(t.kind === "union" && (t.value as TsType[]).some((m) => m.repr === "string"))
  ) {
    return `${where}: a string in the schema, ${t.repr ?? t.kind} in types.ts`;
  }
  return undefined;
}

Deno.test("config types: HostConfig and its section interfaces match the schema", async () => {
  const symbols = await typesDoc();
  const host = properties(symbols, "HostConfig");
  const problems: string[] = [];
  const expected = new Set(["extra"]);
  for (const [key, spec] of Object.entries(TOP_LEVEL_KEYS)) {
    if (!keyScopes(spec).includes("host")) continue;
    expected.add(key);
    const prop = host.get(key);
    if (!prop) problems.push(`${key}: in the schema, not in HostConfig`);
    else problems.push(mismatch(symbols, key, spec, prop) ?? "");
  }
  for (const section of SECTIONS) {
    if (!section.scopes.includes("host")) continue;
    expected.add(section.name);
    const prop = host.get(section.name);
    if (!prop) {
      problems.push(`[${section.name}]: in the schema, not in HostConfig`);
      continue;
    }
    // Tables of free-form keys ([env], [processes]) have no interface of their own.
    if (section.anyKey) continue;
    const name = prop.tsType.repr!;
    const props = properties(symbols, name);
    for (const [key, spec] of Object.entries(section.keys)) {
      const p = props.get(key);
      if (!p) problems.push(`${section.name}.${key}: in the schema, not in ${name}`);
      else problems.push(mismatch(symbols, `${section.name}.${key}`, spec, p) ?? "");
    }
    for (const key of props.keys()) {
      if (!Object.hasOwn(section.keys, key)) {
        problems.push(`${section.name}.${key}: in ${name}, not in the schema`);
      }
    }
  }
  for (const key of host.keys()) {
    if (!expected.has(key)) problems.push(`${key}: in HostConfig, not a host key of the schema`);
  }
  assert.deepEqual(problems.filter(Boolean), []);
});
