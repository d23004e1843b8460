/** The app's nginx site: static and media from disk, the rest to gunicorn. */

export interface NginxSiteData {
  readonly appName: string;
  readonly serverName: string;
  readonly listen: number;
  readonly clientMaxBodySize: string;
  /** in_place: the app's socket. Slot strategies: none, the upstream comes from upstreamFile. */
  readonly socketPath?: string;
  readonly upstreamFile?: string;
  readonly staticRoot: string;
  readonly mediaRoot: string;
  readonly acmeRoot: string;
  /** Snippets in this folder are included in the server block (modules, maintenance mode). */
  readonly snippetsDir: string;
}

export function nginxSite(d: NginxSiteData): string {
  const def = d.serverName === "_" ? " default_server" : "";
  const upstream = d.upstreamFile
    ? `include ${d.upstreamFile};`
    : `upstream ${d.appName}_app {\n    server unix:${d.socketPath} fail_timeout=0;\n}`;
  return `# Written by djaploy. To change it, put your own file at this path in
# infra/deploy_files/<env>/ and djaploy will use that instead.
${upstream}

server {
    listen ${d.listen}${def};
    listen [::]:${d.listen}${def};
    server_name ${d.serverName};
    client_max_body_size ${d.clientMaxBodySize};

${appLocations(d)}}
`;
}

/** What the app's server blocks (HTTP, and HTTPS from the certs module) have in common. */
export function appLocations(
  d: Pick<NginxSiteData, "appName" | "snippetsDir" | "acmeRoot" | "staticRoot" | "mediaRoot">,
): string {
  return `    include ${d.snippetsDir}/*.conf;

    location /.well-known/acme-challenge/ {
        root ${d.acmeRoot};
    }

    location /static/ {
        alias ${d.staticRoot}/;
        expires 30d;
        access_log off;
    }

    location /media/ {
        alias ${d.mediaRoot}/;
    }

    location / {
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
        proxy_pass http://${d.appName}_app;
    }
`;
}
