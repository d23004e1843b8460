/** `[systemd] hardening`: the named protections a project relaxes. */
import { type Protection, PROTECTION_NAMES, PROTECTIONS } from "../../templates/hardening.ts";
import { suggestion } from "./did_you_mean.ts";
import { describe, Invalid, isTable } from "./validators.ts";

function protection(name: string, at: (string | number)[]): Protection {
  if ((PROTECTION_NAMES as string[]).includes(name)) return name as Protection;
  throw new Invalid(
    `must name a protection${suggestion(name, PROTECTION_NAMES)}: got ${describe(name)}; allowed: ${
      PROTECTION_NAMES.join(", ")
    }`,
    at,
  );
}

/**
 * `{ name = false, ... }` (false relaxes, true keeps) or `["name", ...]`
 * (each relaxed); unknown names are errors. Returns the relaxed names, sorted.
 */
export function parseHardening(value: unknown): Protection[] {
  const relaxed = new Set<Protection>();
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v !== "string") {
        throw new Invalid(`must be the name of a protection: got ${describe(v)}`, [i]);
      }
      relaxed.add(protection(v, [i]));
    });
  } else if (isTable(value)) {
    for (const [k, v] of Object.entries(value)) {
      const name = protection(k, [k]);
      if (typeof v !== "boolean") {
        throw new Invalid(
          `must be false (relax) or true (keep): got ${describe(v)}`,
          [k],
        );
      }
      if (!v) relaxed.add(name);
    }
  } else {
    throw new Invalid(
      `must be a table of booleans ({ private_devices = false }) or an array of protection names: got ${
        describe(value)
      }`,
    );
  }
  return PROTECTION_NAMES.filter((n) => relaxed.has(n));
}

/** The docs' list of protections, each with why an app would relax it. */
export const PROTECTION_DOC = [
  "The protections (each on by default), and when an app needs one relaxed:",
  "",
  ...PROTECTION_NAMES.map((n) => `- \`${n}\`: ${PROTECTIONS[n]}.`),
].join("\n");
