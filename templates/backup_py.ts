/**
 * The backup program (templates/backup.py) installed on servers by the rclone and borg modules
 * (python3 is on every server; the sqlite3 command line is not). Constant
 * text: settings come from a JSON file (the timer's runs) or, with secrets,
 * on stdin (restore and listing), never in arguments.
 *
 * Everything that touches the app's data runs as the app's user, never as
 * root (the program refuses): the timer's unit has User= and gets its
 * settings and credentials through systemd's LoadCredential= (read from
 * $CREDENTIALS_DIRECTORY), `restore` runs it with `sudo -u`. Root runs only
 * `known-hosts`, which touches nothing but a file under /etc/djaploy/.
 *
 *   backup.py run CONFIG.json    snapshot the databases and media, upload, prune
 *   backup.py init CONFIG.json   borg: create the repository unless it exists
 *   backup.py known-hosts        as root; JSON {repository, known_hosts} on stdin: pin the
 *                                repository host's ssh key once, print the file
 *   backup.py list               JSON settings on stdin; prints the backups as JSON
 *   backup.py fetch              JSON request on stdin; fetch a backup into staging, check it
 *   backup.py apply              JSON request on stdin; put the fetched backup in place
 *   backup.py discard            JSON request on stdin; remove the staging folder
 *
 * A backup is a folder (rclone: `<target>/<stamp>/`; borg: the archive
 * `<prefix><stamp>`) holding db/<file> (a SQLite snapshot taken with the
 * backup API and checked with PRAGMA integrity_check), media/, shared/<path>/
 * and manifest.json, which rclone uploads last: a folder without it is an
 * unfinished backup, never listed or restored. db/<file> is the path below
 * the data folder, or `~/<path below the app user's home>` for a database
 * elsewhere. A configured database that is missing fails the run before
 * anything is uploaded.
 */
import { BACKUP_PY } from "./programs.gen.ts";
export { BACKUP_PY };
