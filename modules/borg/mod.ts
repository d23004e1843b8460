/**
 * borg: scheduled borgbackup archives of the app's SQLite databases and
 * media files, in a repository over SSH (any port, `remote_path` for
 * storage boxes) or on the server. borg runs as the app's user. The
 * passphrase lives in root's 0600 file that systemd hands to the job
 * (LoadCredential=) and borg reads through BORG_PASSCOMMAND, never in an
 * argument; the repository host's ssh key is pinned by root the first time
 * (known_hosts, kept) and checked strictly after; archives are
 * pruned with keep_within/keep_hourly/daily/weekly/monthly; a stale lock is
 * broken only when no borg process runs on the server. `djaploy restore
 * --backend borg` lists and restores. See docs/operations-modules.md.
 */
import {
  BACKUP_PY_PATH,
  backupLayout,
  backupModule,
  type BackupModuleOptions,
  configSecret,
  type HostConfig,
  jobCredentials,
  type Layout,
  pinHostKey,
  putFile,
  PYTHON,
  remotePath,
  Secret,
  sha256,
  type Step,
  validateBorg,
} from "../../mod.ts";

/** The ssh key file must end with a newline, or ssh refuses it. */
function keyText(secret: Secret): Secret {
  const text = secret.reveal().replaceAll("\r\n", "\n");
  return new Secret(text.endsWith("\n") ? text : `${text}\n`);
}

function credentialFiles(host: HostConfig, layout: Layout): string[] {
  const b = backupLayout(host, layout, "borg");
  return [b.borgPassphrase, ...(host.borg.ssh_key ? [b.borgSshKey] : []), b.borgKnownHosts];
}

/**
 * `borg init` once per repository and user: the marker holds the URL and the
 * user it was done for. The repository host's key is pinned first, as root;
 * init itself runs like the timer's job (systemd-run: the app's user, the
 * same credentials), so the app user's borg knows the repository it made.
 */
const repository: Step = {
  name: "borg repository",
  async run(ctx) {
    const b = backupLayout(ctx.host, ctx.layout, "borg");
    const marker = `${ctx.host.borg.repository}\nuser ${ctx.host.app_user}\n`;
    if (ctx.facts.fileHash(b.borgInitMarker) === sha256(marker)) return;
    await pinHostKey(ctx, { repository: ctx.host.borg.repository!, knownHosts: b.borgKnownHosts });
    const u = ctx.host.app_user;
    const r = await ctx.exec.run({
      argv: [
        ...["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=oneshot"],
        ...["-p", `User=${u}`, "-p", `Group=${u}`],
        ...jobCredentials(OPTIONS, ctx.host, ctx.layout).flatMap((c) => [
          "-p",
          `LoadCredential=${c.name}:${c.path}`,
        ]),
        ...["--", PYTHON, BACKUP_PY_PATH, "init", remotePath.basename(b.settingsFile)],
      ],
      as: "root",
    });
    await putFile(ctx, { path: b.borgInitMarker, content: marker, mode: "0600" });
    if (r.stdout.includes("created repository")) {
      ctx.changed(`created the borg repository ${ctx.host.borg.repository}`);
    }
  },
};

const OPTIONS: BackupModuleOptions = {
  backend: "borg",
  description: "Scheduled borgbackup archives of the SQLite databases and media files",
  packages: ["borgbackup", "openssh-client"],
  validate: validateBorg,
  credentials: async (ctx) => {
    const b = backupLayout(ctx.host, ctx.layout, "borg");
    const g = ctx.host.borg;
    const files = [{
      path: b.borgPassphrase,
      content: await configSecret(ctx, g.passphrase!, "borg.passphrase"),
      mode: "0600",
    }];
    if (g.ssh_key) {
      files.push({
        path: b.borgSshKey,
        content: keyText(await configSecret(ctx, g.ssh_key, "borg.ssh_key")),
        mode: "0600",
      });
    }
    return files;
  },
  files: (host, layout) => {
    const b = backupLayout(host, layout, "borg");
    return [b.borgPassphrase, b.borgSshKey, b.borgInitMarker];
  },
  jobCredentials: credentialFiles,
  more: [repository],
};

export default backupModule(OPTIONS);
