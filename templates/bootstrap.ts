/** What `djaploy bootstrap` writes: the deployer's sudo rule and sshd's login settings. */

/**
 * /etc/sudoers.d/djaploy-<user>: passwordless sudo as root and as the app's
 * users, the two identities djaploy runs commands as (`sudo -n`, `sudo -n -u
 * <app_user>`). No narrower list of commands is offered: djaploy runs shell
 * scripts as root (packages, files in /etc, systemd), which is root access
 * whatever a list would say.
 */
export function sudoersRule(user: string, appUsers: readonly string[]): string {
  const runAs = ["root", ...new Set(appUsers.filter((u) => u !== "root"))].join(", ");
  return `# Written by djaploy bootstrap: ${user} deploys with djaploy, which runs commands
# as root and as the app's user through sudo -n (no password, no terminal).
Defaults:${user} !requiretty
${user} ALL=(${runAs}) NOPASSWD: ALL
`;
}

/** /etc/ssh/sshd_config.d/10-djaploy.conf (read before later files: first value wins). */
export function sshdHardening(opts: { rootLogin: boolean; passwordLogin: boolean }): string {
  const lines = ["# Written by djaploy bootstrap."];
  if (!opts.rootLogin) lines.push("PermitRootLogin no");
  if (!opts.passwordLogin) {
    lines.push("PasswordAuthentication no", "KbdInteractiveAuthentication no");
  }
  return lines.join("\n") + "\n";
}
