/**
 * The app's HTTPS site: one server block per certificate, with the same
 * locations as the HTTP site (appLocations, shared with templates/nginx_site.ts), modern TLS settings (Mozilla's "intermediate" profile) and HSTS
 * when asked for; and the snippet that sends the certificates' names from
 * HTTP to HTTPS, except ACME challenges, which keep being served over HTTP.
 */
import { appLocations } from "./nginx_site.ts";

export interface TlsServer {
  /** Every name on the certificate, the main one first. */
  readonly names: readonly string[];
  readonly certPath: string;
  readonly keyPath: string;
  readonly hsts: boolean;
}

export interface NginxTlsData {
  readonly appName: string;
  readonly clientMaxBodySize: string;
  readonly staticRoot: string;
  readonly mediaRoot: string;
  readonly acmeRoot: string;
  readonly snippetsDir: string;
  readonly servers: readonly TlsServer[];
}

const CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

function server(d: NginxTlsData, s: TlsServer): string {
  const hsts = s.hsts
    ? `\n    add_header Strict-Transport-Security "max-age=31536000" always;\n`
    : "";
  return `server {
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name ${s.names.join(" ")};
    client_max_body_size ${d.clientMaxBodySize};

    ssl_certificate ${s.certPath};
    ssl_certificate_key ${s.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${CIPHERS};
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:djaploy_tls:10m;
    ssl_session_tickets off;
${hsts}
${appLocations(d)}}
`;
}

/** The HTTPS site; it uses the `<app>_app` upstream that the HTTP site defines. */
export function nginxTlsSite(d: NginxTlsData): string {
  return `# Written by djaploy's certs module: HTTPS for ${d.appName}.
# The upstream ${d.appName}_app comes from the app's HTTP site.
${d.servers.map((s) => server(d, s)).join("\n")}`;
}

function regexEscape(name: string): string {
  return name.replaceAll(".", "\\.").replace(/^\*\\\./, "[^.]+\\.");
}

/**
 * Included by the HTTP and HTTPS server blocks: plain HTTP requests for the
 * certificates' names get a 301 to HTTPS, ACME challenges excepted.
 */
export function nginxHttpsRedirect(names: readonly string[]): string {
  const pattern = `^(${names.map(regexEscape).join("|")})$`;
  return `# Written by djaploy's certs module: HTTP to HTTPS for names with a certificate.
set $djaploy_https_redirect "";
if ($host ~* "${pattern}") {
    set $djaploy_https_redirect $scheme;
}
if ($uri ~ "^/\\.well-known/acme-challenge/") {
    set $djaploy_https_redirect "";
}
if ($djaploy_https_redirect = http) {
    return 301 https://$host$request_uri;
}
`;
}
