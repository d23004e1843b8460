/**
 * An example custom module: nginx answers /robots.txt from the [robots]
 * table, through a snippet in /etc/nginx/djaploy.d/<app>/ (every app site
 * djaploy writes includes that folder).
 *
 * A module is a default export with a name and steps per phase. It imports
 * nothing of djaploy's: everything reaches a step through its context (ctx),
 * and commands are argv arrays that djaploy quotes. `files` names the files
 * the module compares: djaploy reads their hashes with everything else it
 * reads at the start of a run, so an unchanged snippet costs no command at all.
 */
// deno-lint-ignore no-explicit-any
const snippetPath = (host: any) => `/etc/nginx/djaploy.d/${host.app_name}/robots.conf`;

// Web Crypto, not node:crypto, whose loading would cost every run that loads
// this module more than its steps (docs/modules.md).
async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  name: "robots",
  description: "nginx serves /robots.txt from [robots] disallow",
  files: (host: unknown) => [snippetPath(host)],
  steps: {
    "deploy:configure": [{
      name: "robots.txt",
      // deno-lint-ignore no-explicit-any
      async run(ctx: any) {
        const settings = (ctx.host.extra.robots ?? {}) as { disallow?: string[] };
        const body = ["User-agent: *", ...(settings.disallow ?? []).map((p) => `Disallow: ${p}`)]
          .join("\\n");
        const snippet =
          `location = /robots.txt {\n    default_type text/plain;\n    return 200 "${body}\\n";\n}\n`;
        const path = snippetPath(ctx.host);
        if (ctx.facts.fileHash(path) === await sha256(snippet)) return;
        await ctx.exec.run({
          argv: ["sh", "-c", 'mkdir -p "${1%/*}" && cat > "$1"', "sh", path],
          as: "root",
          stdin: snippet,
        });
        await ctx.exec.run({ argv: ["nginx", "-t", "-q"], as: "root" });
        await ctx.exec.run({ argv: ["systemctl", "reload", "nginx"], as: "root" });
        ctx.changed(`wrote ${path}`);
      },
    }],
  },
};
