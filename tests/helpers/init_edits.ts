/**
 * Applies the settings changes `djaploy init` prints, as a reader would:
 * "path:N: ... Replace line N with:" / "Replace lines N-M with:" /
 * "Insert after line N:" / "Insert before line 1:", followed by the new lines indented by four spaces.
 */

export interface PrintedEdit {
  readonly file: string;
  readonly mode: "replace" | "insert";
  readonly line: number;
  readonly endLine: number;
  readonly text: string;
}

/** The edits in init's output, in the order printed. */
export function parsePrintedEdits(output: string): PrintedEdit[] {
  const edits: PrintedEdit[] = [];
  const re =
    /^warning: ([^\s:]+)(?::\d+)?: .*?(Replace lines? (\d+)(?:-(\d+))? with|Insert (after|before) line (\d+)):\n((?: {4}.*(?:\n|$))+)/gm;
  for (const m of output.matchAll(re)) {
    const text = m[7].replace(/\n$/, "").split("\n").map((l) => l.slice(4)).join("\n");
    if (m[6] !== undefined) {
      const after = m[5] === "after" ? +m[6] : +m[6] - 1;
      edits.push({ file: m[1], mode: "insert", line: after, endLine: after, text });
    } else {
      edits.push({ file: m[1], mode: "replace", line: +m[3], endLine: +(m[4] ?? m[3]), text });
    }
  }
  return edits;
}

/** Applies edits (line numbers of the original file) to `text`, last line first. */
export function applyEdits(text: string, edits: readonly PrintedEdit[]): string {
  const lines = text.split("\n");
  const sorted = [...edits].sort((a, b) => b.line - a.line || (a.mode === "insert" ? -1 : 1));
  for (const e of sorted) {
    const add = e.text.split("\n");
    if (e.mode === "insert") lines.splice(e.line, 0, ...add);
    else lines.splice(e.line - 1, e.endLine - e.line + 1, ...add);
  }
  return lines.join("\n");
}

/** Applies every printed edit to the files under `root`; returns the files changed. */
export async function applyPrintedEdits(root: string, output: string): Promise<string[]> {
  const edits = parsePrintedEdits(output);
  const files = [...new Set(edits.map((e) => e.file))];
  for (const file of files) {
    const path = `${root}/${file}`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, applyEdits(text, edits.filter((e) => e.file === file)));
  }
  return files;
}
