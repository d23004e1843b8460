/**
 * Maintenance mode: a snippet the app's nginx server block includes (from
 * /etc/nginx/djaploy.d/<app>/), answering every request with 503 and a page,
 * and the page itself when the project brings none.
 */
import { WAIT_FOR_NGINX_PY } from "./programs.gen.ts";

export interface MaintenanceData {
  /** The folder holding the page (the snippets folder). */
  readonly root: string;
  /** The page's file name in `root`. */
  readonly page: string;
  /** Seconds clients are told to wait (Retry-After). */
  readonly retryAfter: number;
  /** Who turned it on and when, for whoever reads the file on the server. */
  readonly note: string;
}

/**
 * A server-level `return 503` runs before any location is chosen, so static
 * files and the app are both covered; ACME challenges still pass, so a
 * certificate can be renewed meanwhile. The error page is served from a
 * named location: an internal redirect to a named location skips the
 * server-level rewrite phase, so the page does not return 503 on itself.
 */
export function maintenanceSnippet(d: MaintenanceData): string {
  return `# Written by djaploy maintenance on (${d.note}).
# djaploy maintenance off removes it.
error_page 503 @djaploy_maintenance;
if ($uri !~ ^/\\.well-known/acme-challenge/) {
    return 503;
}
location @djaploy_maintenance {
    root ${d.root};
    rewrite ^ /${d.page} break;
    default_type text/html;
    add_header Retry-After ${d.retryAfter} always;
    add_header Cache-Control "no-store" always;
}
`;
}

/** The built-in page. */
export function maintenancePage(appName: string): string {
  const name = appName.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Down for maintenance</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; min-height: 100vh; display: grid;
         place-items: center; background: #f6f6f4; color: #222; }
  main { max-width: 32rem; padding: 2rem; text-align: center; }
  h1 { font-size: 1.6rem; margin-bottom: .5rem; }
  p { color: #555; line-height: 1.5; }
</style>
</head>
<body>
<main>
<h1>Down for maintenance</h1>
<p>${name} is being updated and will be back shortly. Please try again in a few minutes.</p>
</main>
</body>
</html>
`;
}

/**
 * Waits until nginx on this host answers `/` with 503 (argument "1") or
 * with anything else ("0"): a reload only signals nginx, and its old workers
 * serve the old configuration for a moment. Arguments: port host want_503 tries.
 */
export { WAIT_FOR_NGINX_PY };
