/**
 * certbot's --manual hooks, answered by djaploy itself. certbot runs a small
 * shell hook for each challenge; the hook drops a request file into a private
 * folder and waits; djaploy (which started certbot and is still running)
 * picks it up, does the work with what it already has open (the hosts' SSH
 * connections, the DNS provider) and writes the answer. No port, no second
 * copy of djaploy, no credentials in the hook's environment.
 */
import { join } from "../paths.ts";
import { quote } from "../shell.ts";
import { CERTBOT_HOOK_SH } from "./programs.gen.ts";

export interface HookRequest {
  readonly phase: "auth" | "cleanup";
  /** CERTBOT_DOMAIN: the name being validated. */
  readonly domain: string;
  /** CERTBOT_TOKEN (HTTP-01). */
  readonly token: string;
  /** CERTBOT_VALIDATION: the file's content (HTTP-01) or the TXT value (DNS-01). */
  readonly validation: string;
  /** CERTBOT_REMAINING_CHALLENGES. */
  readonly remaining: number;
}

// $1: auth | cleanup. Answers: a file whose first line is "ok" or "error", then a message.
export const HOOK_SH = CERTBOT_HOOK_SH;

export function parseHookRequest(text: string): HookRequest | undefined {
  const [phase, domain, token, validation, remaining] = text.split("\n");
  if (phase !== "auth" && phase !== "cleanup") return undefined;
  return { phase, domain, token, validation, remaining: Number(remaining) || 0 };
}

export interface HookServer {
  /** certbot's --manual-auth-hook value. */
  readonly authHook: string;
  readonly cleanupHook: string;
  /** The first error a handler threw, if any (certbot only sees its message). */
  readonly error: () => unknown;
}

/**
 * Runs `fn` while answering hook requests with `handle`; the hook folder is
 * made inside `parent` (private) and removed afterwards.
 */
export async function withHookServer<T>(
  parent: string,
  handle: (req: HookRequest) => Promise<void>,
  fn: (server: HookServer) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "hooks-" });
  await Deno.chmod(dir, 0o700);
  const script = join(dir, "hook.sh");
  await Deno.writeTextFile(script, HOOK_SH, { mode: 0o700 });
  let firstError: unknown;
  let stopped = false;
  const answer = async (id: string, ok: boolean, message: string) => {
    const tmp = join(dir, `${id}.restmp`);
    await Deno.writeTextFile(tmp, `${ok ? "ok" : "error"}\n${message}\n`);
    await Deno.rename(tmp, join(dir, `${id}.res`));
  };
  const poll = async () => {
    while (!stopped) {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.endsWith(".req")) continue;
        const id = entry.name.slice(0, -4);
        const path = join(dir, entry.name);
        const req = parseHookRequest(await Deno.readTextFile(path));
        await Deno.remove(path);
        if (!req) {
          await answer(id, false, "djaploy: malformed hook request");
          continue;
        }
        try {
          await handle(req);
          await answer(id, true, "");
        } catch (err) {
          firstError ??= err;
          await answer(id, false, err instanceof Error ? err.message : String(err));
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const polling = poll();
  try {
    return await fn({
      authHook: `sh ${quote(script)} auth`,
      cleanupHook: `sh ${quote(script)} cleanup`,
      error: () => firstError,
    });
  } finally {
    stopped = true;
    await polling.catch(() => undefined);
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  }
}
