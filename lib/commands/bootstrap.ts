/**
 * `djaploy bootstrap`: the first login to a fresh server, as root (or the
 * provider's initial user), to create `ssh_user` with the deployer's public
 * key and passwordless sudo; optionally root and password logins are turned
 * off, once the new user has proved it can log in and use sudo. Safe to run
 * again: it changes only what differs.
 */
import type { CommandDef, ParsedFor } from "../cli/args.ts";
import { openSession } from "../engine/session.ts";
import type { Ui } from "../output/ui.ts";
import { COMMON_FLAGS, HOST_FLAGS, sessionRunOptions } from "./common.ts";
import { printSummary, runOnHosts } from "../engine/runner.ts";
import type { Step, StepContext } from "../engine/module_api.ts";
import type { FactProbe } from "../host/facts.ts";
import type { HostConfig } from "../config/types.ts";
import type { Executor } from "../exec/executor.ts";
import { userProbe } from "../host/probes.ts";
import { sha256Hex } from "../hash.ts";
import { shScript } from "../exec/remote_command.ts";
import { UsageError, UserError } from "../errors.ts";
import { expandHome, resolve } from "../paths.ts";
import { sshdHardening, sudoersRule } from "../../templates/bootstrap.ts";
import { ADD_KEY_SH, PUT_SSHD_SH, PUT_SUDOERS_SH } from "./programs.gen.ts";

export const bootstrapCommand = {
  name: "bootstrap",
  summary: "First login to new servers: create ssh_user with your public key and passwordless " +
    "sudo. Optionally turns off root and password logins; safe to run again.",
  flags: [
    ...HOST_FLAGS,
    {
      name: "as",
      type: "string",
      valueName: "USER",
      description: "The user to log in as this once (default root; another needs sudo)",
    },
    {
      name: "identity",
      type: "string",
      valueName: "PATH",
      description: "Private key for that login (default: ssh_key)",
    },
    {
      name: "public-key",
      type: "string",
      valueName: "PATH",
      description: "The deployer's public key (default: ssh_key + .pub)",
    },
    { name: "disable-root-login", type: "boolean", description: "sshd: PermitRootLogin no" },
    {
      name: "disable-password-login",
      type: "boolean",
      description: "sshd: no password or keyboard-interactive logins",
    },
    ...COMMON_FLAGS,
  ],
} as const satisfies CommandDef;

export const SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-djaploy.conf";
export const sudoersPath = (user: string) => `/etc/sudoers.d/djaploy-${user}`;

const KEY_LINE =
  /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\s+([A-Za-z0-9+/=]+)(\s.*)?$/;

/** The type and base64 of a public key line: what identifies the key. */
export function keyId(line: string): string | undefined {
  const m = KEY_LINE.exec(line.trim());
  return m ? `${m[1]} ${m[2]}` : undefined;
}

export function authorizedKeysProbe(user: string): FactProbe<string[]> {
  return {
    name: `authorized-keys:${user}`,
    argv: shScript(
      'h=$(getent passwd "$1" | cut -d: -f6); [ -n "$h" ] && cat "$h/.ssh/authorized_keys" 2>/dev/null; true',
      user,
    ),
    parse: (out) => out.split("\n").map(keyId).filter((k): k is string => k !== undefined),
  };
}

// The programs bootstrap runs (files in this folder):
// add_key.sh appends the key on stdin, after a newline if the file lacks its last one.
// put_sudoers.sh checks a sudoers file with visudo before it is put in place: a broken one
// locks sudo. The temp name has a dot, which sudo's includedir skips.
// put_sshd.sh tests the new drop-in with sshd -t; if sshd refuses it, the old one comes back.

export interface BootstrapOptions {
  readonly publicKey: (host: HostConfig) => Promise<string>;
  readonly appUsers: readonly string[];
  readonly disableRoot: boolean;
  readonly disablePassword: boolean;
  /** An executor that logs in as ssh_user itself, to prove the result. */
  readonly asDeployer: (host: HostConfig) => Executor;
}

export function bootstrapSteps(o: BootstrapOptions): Step[] {
  const user: Step = {
    name: "deploy user",
    async run(ctx) {
      const u = ctx.host.ssh_user;
      if (ctx.facts.get(userProbe(u))) return;
      await ctx.exec.run({
        argv: ["useradd", "--create-home", "--shell", "/bin/bash", u],
        as: "root",
      });
      ctx.changed(`created user ${u}`);
    },
  };
  const key: Step = {
    name: "authorized key",
    async run(ctx) {
      const u = ctx.host.ssh_user;
      const line = await o.publicKey(ctx.host);
      if (ctx.facts.get(authorizedKeysProbe(u)).includes(keyId(line)!)) return;
      await ctx.exec.run({ argv: shScript(ADD_KEY_SH, u), as: "root", stdin: `${line}\n` });
      ctx.changed(`authorized ${line.split(/\s+/).slice(2).join(" ") || "the key"} for ${u}`);
    },
  };
  const sudo: Step = {
    name: "sudo",
    async run(ctx) {
      const u = ctx.host.ssh_user;
      const rule = sudoersRule(u, o.appUsers);
      if (ctx.facts.fileHash(sudoersPath(u)) === await sha256Hex(rule)) return;
      await ctx.exec.run({
        argv: shScript(PUT_SUDOERS_SH, sudoersPath(u)),
        as: "root",
        stdin: rule,
      });
      ctx.changed(`passwordless sudo for ${u} (${sudoersPath(u)})`);
    },
  };
  const check: Step = {
    name: "log in as the deployer",
    async run(ctx) {
      const exec = o.asDeployer(ctx.host);
      try {
        await exec.run({ argv: ["true"], as: "root" });
      } catch (err) {
        const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
        if (o.disableRoot || o.disablePassword) {
          throw new UserError(
            `Logins were left as they are: ${ctx.host.ssh_user} could not log in and use sudo on ${ctx.host.name}: ${why}`,
            { hint: "Check that ssh_key is the private half of the key bootstrap installed." },
          );
        }
        ctx.log.warn(`${ctx.host.ssh_user} could not log in and use sudo yet: ${why}`);
      } finally {
        await exec.close();
      }
    },
  };
  const sshd: Step = {
    name: "sshd logins",
    async run(ctx: StepContext) {
      if (!o.disableRoot && !o.disablePassword) return;
      const text = sshdHardening({ rootLogin: !o.disableRoot, passwordLogin: !o.disablePassword });
      if (ctx.facts.fileHash(SSHD_DROP_IN) === await sha256Hex(text)) return;
      await ctx.exec.run({ argv: shScript(PUT_SSHD_SH, SSHD_DROP_IN), as: "root", stdin: text });
      ctx.changed(
        [o.disableRoot && "root login", o.disablePassword && "password login"].filter(Boolean)
          .join(" and ") + " turned off",
      );
    },
  };
  return [user, key, sudo, check, sshd];
}

async function readPublicKey(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(
      `Cannot read the public key ${path}: ${err instanceof Error ? err.message : err}`,
      { hint: "Give it with --public-key PATH." },
    );
  }
  const line = text.split("\n").find((l) => keyId(l) !== undefined);
  if (!line) throw new UsageError(`${path} holds no ssh public key`);
  return line.trim();
}

export async function bootstrap(ui: Ui, args: ParsedFor<typeof bootstrapCommand>): Promise<number> {
  const s = await openSession(ui, args.flags, "bootstrap");
  try {
    const as = args.flags.as ?? "root";
    const identity = args.flags.identity;
    const keyFlag = args.flags["public-key"];
    const keys = new Map<string, Promise<string>>();
    const publicKey = (host: HostConfig) => {
      const path = keyFlag
        ? resolve(Deno.cwd(), expandHome(keyFlag))
        : host.ssh_key
        ? `${host.ssh_key}.pub`
        : undefined;
      if (!path) {
        throw new UsageError(
          `Give the deployer's public key with --public-key PATH: ssh_key is not set for ${host.name}`,
        );
      }
      if (!keys.has(path)) keys.set(path, readPublicKey(path));
      return keys.get(path)!;
    };
    // Read every key before the first login: a missing one is a usage error, nothing touched.
    for (const h of s.hosts) await publicKey(h);
    const options: BootstrapOptions = {
      publicKey,
      appUsers: [...new Set(s.hosts.map((h) => h.app_user))],
      disableRoot: Boolean(args.flags["disable-root-login"]),
      disablePassword: Boolean(args.flags["disable-password-login"]),
      asDeployer: (host) => s.executor(host, 1000 + s.hosts.indexOf(host)),
    };
    const plan = {
      steps: bootstrapSteps(options),
      probes: [] as FactProbe[],
      files: [] as string[],
      packages: [] as string[],
    };
    const results = await runOnHosts({
      ...sessionRunOptions(s, ui),
      executor: (h, i) =>
        s.executor({ ...h, ssh_user: as, ssh_key: identity ? expandHome(identity) : h.ssh_key }, i),
      plan: (h) => ({
        ...plan,
        probes: [userProbe(h.ssh_user), authorizedKeysProbe(h.ssh_user)],
        files: [sudoersPath(h.ssh_user), SSHD_DROP_IN],
      }),
      deployFiles: new Set(),
    });
    printSummary(ui, results, `bootstrap ${s.env.name} (as ${as})`);
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await s.close();
  }
}
