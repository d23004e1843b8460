/** Probes shared by modules and strategies. */
import type { FactProbe } from "./facts.ts";
import { shScript } from "../exec/remote_command.ts";
import type { HostConfig } from "../config/types.ts";
import { strategyTraits } from "../strategies/traits.ts";

/** Which of the given Debian packages are installed. */
export function packagesProbe(packages: readonly string[]): FactProbe<Set<string>> {
  return {
    name: "packages",
    argv: ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n", ...packages],
    parse: (out) =>
      new Set(
        out.split("\n").filter((l) => l.endsWith(" installed")).map((l) => l.split(" ")[0]),
      ),
  };
}

/** Which of the given paths are directories. */
export function dirsProbe(name: string, paths: readonly string[]): FactProbe<Set<string>> {
  return {
    name,
    argv: shScript('for d; do [ -d "$d" ] && echo "$d"; done; true', ...paths),
    parse: (out) => new Set(out.split("\n").filter(Boolean)),
  };
}

/** Whether a user exists. */
export function userProbe(user: string): FactProbe<boolean> {
  return {
    name: `user:${user}`,
    argv: ["getent", "passwd", user],
    parse: (_out, code) => code === 0,
  };
}

/** A file's text, or undefined when it does not exist. */
export function fileProbe(name: string, path: string): FactProbe<string | undefined> {
  return { name, argv: ["cat", "--", path], parse: (out, code) => (code === 0 ? out : undefined) };
}

/**
 * Whether units are enabled and active, by unit, as `systemctl is-enabled`
 * and `is-active` would say, from one `systemctl show` (one call to systemd
 * for all of them instead of two per unit). A unit systemd does not know is
 * "missing". Units are named with their suffix, or are services.
 */
export function unitsProbe(
  units: readonly string[],
  name = "units",
): FactProbe<Map<string, { enabled: string; active: string }>> {
  return {
    name,
    argv: ["systemctl", "show", "--property=Id,UnitFileState,ActiveState", "--", ...units],
    parse: (out) => {
      // One block per unit, in the order asked, separated by blank lines. When systemctl
      // stopped early (a name it refuses), the blocks it printed are found by Id instead
      // ("hello.service"; by position, an alias such as sshd finds ssh.service's block).
      const blocks = out.split(/\n\s*\n/).filter((b) => b.trim());
      const byId = new Map<string, string>();
      for (const block of blocks) {
        const id = /^Id=(.+)$/m.exec(block)?.[1].trim();
        if (id) byId.set(id, block);
      }
      const map = new Map<string, { enabled: string; active: string }>();
      units.forEach((unit, i) => {
        const block = blocks.length === units.length
          ? blocks[i]
          : byId.get(unit.includes(".") ? unit : `${unit}.service`) ?? "";
        const enabled = /^UnitFileState=(.*)$/m.exec(block)?.[1].trim();
        const active = /^ActiveState=(.*)$/m.exec(block)?.[1].trim();
        map.set(unit, { enabled: enabled || "missing", active: active || "unknown" });
      });
      return map;
    },
  };
}

/** Where a symlink points, or undefined when it is not one. */
export function linkProbe(name: string, path: string): FactProbe<string | undefined> {
  return {
    name,
    argv: ["readlink", "--", path],
    parse: (out, code) => (code === 0 ? out.trim() : undefined),
  };
}

/**
 * The app's units: `services`, and for slot strategies the unit that starts
 * the live slot at boot. One probe, shared by the systemd module and the
 * strategies, so both read the same fact.
 */
export function appUnitsProbe(
  host: Pick<HostConfig, "services" | "deployment_strategy" | "app_name">,
): FactProbe<Map<string, { enabled: string; active: string }>> {
  const boot = strategyTraits(host).hasSlots ? [`${host.app_name}-slots.service`] : [];
  return unitsProbe([...host.services, ...boot]);
}

/** `uname -m` of the host. */
export const archProbe: FactProbe<string> = {
  name: "uname-m",
  argv: ["uname", "-m"],
  parse: (out) => out.trim(),
};
