/** The upstream file of slot strategies: which gunicorn socket(s) nginx sends requests to. */
export function nginxUpstream(appName: string, socketPath: string): string {
  return `# Written by djaploy: the live slot of ${appName}. Switched by deploy, activate and rollback.
upstream ${appName}_app {
    server unix:${socketPath} fail_timeout=0;
}
`;
}
