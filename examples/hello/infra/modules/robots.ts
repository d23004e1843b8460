/**
 * An example custom module: nginx answers /robots.txt from the [robots]
 * table, through a snippet in /etc/nginx/djaploy.d/<app>/ (every app site
 * djaploy writes includes that folder).
 *
 * A module is a default export with a name and steps per phase. It needs no
 * import: everything reaches a step through its context (ctx), and commands
 * are argv arrays that djaploy quotes.
 */
export default {
  name: "robots",
  description: "nginx serves /robots.txt from [robots] disallow",
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
        const path = `/etc/nginx/djaploy.d/${ctx.host.app_name}/robots.conf`;
        const current = await ctx.exec.run({ argv: ["cat", path], as: "root", okCodes: [0, 1] });
        if (current.stdout === snippet) return;
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
