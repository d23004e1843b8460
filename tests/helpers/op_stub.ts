/**
 * A stand-in for the 1Password CLI: an `op` executable in a temp folder, to
 * put first on PATH. It answers like the real one for what djaploy uses:
 * `op read op://vault/item/field` prints the value; `op inject` fills the
 * `{{ op://... }}` references of the template on its standard input (or
 * `-i FILE`); an unknown reference is an `[ERROR]` on stderr and exit code
 * 1; `signedOut` makes every call fail as the real CLI does when no one is
 * signed in. Every call is logged (argv as JSON) for assertions.
 */
import { join } from "node:path";

export interface OpStub {
  /** The folder holding `op`: prepend it to PATH. */
  readonly dir: string;
  /** PATH with `dir` first. */
  readonly path: string;
  /** The argv of every call so far. */
  calls(): Promise<string[][]>;
  cleanup(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const SCRIPT = `#!/usr/bin/env python3
import json, os, re, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
with open(os.path.join(here, "vault.json")) as f:
    data = json.load(f)
values = data["values"]
def fail(message):
    sys.stderr.write("[ERROR] 2026/11/26 07:01:02 " + message + "\\n")
    sys.exit(1)
args = sys.argv[1:]
if args[:1] == ["--version"]:
    print("2.30.3"); sys.exit(0)
if data.get("signedOut"):
    fail("You are not currently signed in. Please run \`op signin --help\` for instructions")
def lookup(ref):
    if ref not in values:
        m = re.match(r"op://([^/]+)/([^/]+)/", ref)
        fail('could not read secret \\'%s\\': "%s" isn\\'t an item in the "%s" vault.'
             % (ref, m.group(2) if m else "?", m.group(1) if m else "?"))
    return values[ref]
if args[:1] == ["read"] and len(args) >= 2:
    ref = [a for a in args[1:] if not a.startswith("-")][0]
    sys.stdout.write(lookup(ref) + ("" if "-n" in args or "--no-newline" in args else "\\n"))
    sys.exit(0)
if args[:1] == ["inject"]:
    template = open(args[args.index("-i") + 1]).read() if "-i" in args else sys.stdin.read()
    refs = re.findall(r"\\{\\{\\s*(op://[^}\\s]+)\\s*\\}\\}", template)
    for ref in refs:
        lookup(ref)
    sys.stdout.write(re.sub(r"\\{\\{\\s*(op://[^}\\s]+)\\s*\\}\\}", lambda m: values[m.group(1)], template))
    sys.exit(0)
fail("unknown command " + " ".join(args))
`;

/** Writes the stand-in with these references and values. */
export async function makeOpStub(
  values: Readonly<Record<string, string>>,
  opts: { signedOut?: boolean } = {},
): Promise<OpStub> {
  const dir = await Deno.makeTempDir({ prefix: "djaploy-op-" });
  await Deno.writeTextFile(join(dir, "op"), SCRIPT, { mode: 0o755 });
  await Deno.chmod(join(dir, "op"), 0o755);
  await Deno.writeTextFile(
    join(dir, "vault.json"),
    JSON.stringify({ values, signedOut: opts.signedOut ?? false }),
  );
  const cleanup = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  return {
    dir,
    path: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    async calls() {
      const text = await Deno.readTextFile(join(dir, "calls.jsonl")).catch(() => "");
      return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    },
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}
