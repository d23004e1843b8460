/**
 * Certificates: `update-certs` issues or renews what is due, `sync-certs`
 * installs them on the servers and switches nginx to HTTPS, `renew-certs`
 * does both for cron (silent unless something changed or failed), `certs`
 * lists what exists where and when it expires. Each command has its file.
 */
export { updateCerts, updateCertsCommand } from "./update_certs.ts";
export { needsAcme, syncCerts, syncCertsCommand } from "./sync_certs.ts";
export { hostsToInstall, renewCerts, renewCertsCommand } from "./renew_certs.ts";
export { certsCommand, certsList } from "./certs_list.ts";
