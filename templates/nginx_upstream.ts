/**
 * The upstream file of slot strategies. It names a stable path, a symlink to
 * the live slot's socket: switching slots moves the link, not this file, so
 * nginx is never reloaded for a switch (a reload closes idle keep-alive
 * connections, and a client racing that close sees an error).
 */
export function nginxUpstream(appName: string, liveSocket: string): string {
  return `# Written by djaploy. ${liveSocket} links to the live slot's socket;
# deploy, activate and rollback move the link.
upstream ${appName}_app {
    server unix:${liveSocket} fail_timeout=0;
}
`;
}
