/**
 * The backup program installed on servers by the rclone and borg modules
 * (python3 is on every server; the sqlite3 command line is not). Constant
 * text: settings come from a JSON file (the timer's runs) or, with secrets,
 * on stdin (restore and listing), never in arguments.
 *
 *   backup.py run CONFIG.json    snapshot the databases and media, upload, prune
 *   backup.py init CONFIG.json   borg: create the repository unless it exists
 *   backup.py list               JSON settings on stdin; prints the backups as JSON
 *   backup.py restore            JSON settings on stdin; fetch, stop, put in place, start
 *
 * A backup is a folder (rclone: `<target>/<stamp>/`; borg: the archive
 * `<prefix><stamp>`) holding db/<file> (a SQLite snapshot taken with the
 * backup API and checked with PRAGMA integrity_check), media/, shared/<path>/
 * and manifest.json, which rclone uploads last: a folder without it is an
 * unfinished backup, never listed or restored.
 */
export const BACKUP_PY = String.raw`#!/usr/bin/python3
# Written by djaploy: backups of a Django app's SQLite databases and media files.
import datetime, fcntl, json, os, pwd, shutil, subprocess, sys, tempfile

STAMP = "%Y-%m-%dT%H%M%SZ"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Exit codes: 1 failed, 75 another backup holds the lock (try again later).
BUSY = 75

SNAPSHOT = """
import sqlite3, sys
src, dst = sys.argv[1], sys.argv[2]
s = sqlite3.connect(src, timeout=120)
d = sqlite3.connect(dst)
s.backup(d)
s.close()
d.execute("PRAGMA journal_mode=DELETE")
rows = d.execute("PRAGMA integrity_check").fetchall()
d.close()
if rows != [("ok",)]:
    sys.exit("integrity check failed: %r" % (rows[:5],))
"""

CHECK = """
import sqlite3, sys
d = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = d.execute("PRAGMA integrity_check").fetchall()
if rows != [("ok",)]:
    sys.exit("integrity check failed: %r" % (rows[:5],))
"""


class Failure(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def log(message):
    print(message, flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def stamp_time(name):
    try:
        return datetime.datetime.strptime(name, STAMP).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def run(argv, env=None, cwd=None, check=True, capture=True, user=None):
    kwargs = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    r = subprocess.run(argv, env=env, cwd=cwd, text=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, **kwargs)
    if check and r.returncode != 0:
        tail = "\n".join(((r.stderr or "") + (r.stdout or "")).strip().splitlines()[-8:])
        raise Failure("%s failed with exit code %d: %s" % (argv[0], r.returncode, tail))
    return r


def is_sqlite(path):
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def find_databases(cfg):
    data = cfg["data_dir"]
    if cfg["databases"]:
        found = []
        for rel in cfg["databases"]:
            if os.path.isfile(os.path.join(data, rel)):
                found.append(rel)
            else:
                log("warning: %s does not exist: not backed up" % os.path.join(data, rel))
        return found
    found = []
    for root, dirs, files in os.walk(data):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if not os.path.islink(path) and is_sqlite(path):
                found.append(os.path.relpath(path, data))
    return found


def snapshot(cfg, stamp):
    """The backup's folder in the staging area: database snapshots, media, manifest."""
    user = cfg["app_user"]
    entry = pwd.getpwnam(user)
    staging = cfg["staging_dir"]
    shutil.rmtree(staging, ignore_errors=True)
    folder = os.path.join(staging, stamp)
    os.makedirs(os.path.join(folder, "db"), mode=0o700)
    for d in (staging, folder, os.path.join(folder, "db")):
        os.chown(d, entry.pw_uid, entry.pw_gid)
        os.chmod(d, 0o700)
    databases = []
    for rel in find_databases(cfg):
        src = os.path.join(cfg["data_dir"], rel)
        dst = os.path.join(folder, "db", rel)
        parent = os.path.dirname(dst)
        if not os.path.isdir(parent):
            os.makedirs(parent)
            os.chown(parent, entry.pw_uid, entry.pw_gid)
        # As the app's user: opening a WAL database may create its -wal and -shm files.
        run([sys.executable, "-c", SNAPSHOT, src, dst], user=user)
        databases.append({"name": rel, "bytes": os.path.getsize(dst)})
        log("database %s: %d bytes, integrity ok" % (rel, os.path.getsize(dst)))
    files = []
    if cfg.get("media_dir") and os.path.isdir(cfg["media_dir"]):
        copy_tree(cfg["media_dir"], os.path.join(folder, "media"))
        files.append("media")
    for rel in cfg.get("shared_resources", []):
        src = os.path.join(cfg["shared_dir"], rel)
        if os.path.isdir(src):
            copy_tree(src, os.path.join(folder, "shared", rel))
            files.append("shared/" + rel)
    manifest = {
        "format": 1, "time": now().isoformat(), "app": cfg["app"], "env": cfg["env"],
        "host": cfg["host"], "databases": databases, "files": files,
    }
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return folder, manifest


def copy_tree(src, dst):
    """Hard links where the file system allows (instant, no space), else a copy."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if run(["cp", "-al", "--", src, dst], check=False).returncode != 0:
        shutil.rmtree(dst, ignore_errors=True)
        run(["cp", "-a", "--", src, dst])


# rclone --------------------------------------------------------------------

def rclone(conf):
    return ["rclone", "--config", conf]


def rclone_list(cfg, conf):
    target = cfg["target"]
    r = run(rclone(conf) + ["lsf", "--dirs-only", target], check=False)
    if r.returncode != 0:
        if "directory not found" in r.stderr or "not found" in r.stderr.lower():
            return []
        raise Failure("rclone lsf failed: " + r.stderr.strip()[-500:])
    dirs = [line.rstrip("/") for line in r.stdout.splitlines() if line.strip()]
    r = run(rclone(conf) + ["lsf", "-R", "--max-depth", "2", "--files-only",
                                 "--include", "/*/manifest.json", target])
    complete = {line.split("/")[0] for line in r.stdout.splitlines() if line.strip()}
    out = []
    for name in sorted(dirs):
        t = stamp_time(name)
        if t is not None:
            out.append({"name": name, "time": t.isoformat(), "complete": name in complete})
    return out


def rclone_backup(cfg, folder, stamp):
    conf = cfg["rclone_config"]
    dest = cfg["target"] + "/" + stamp
    run(rclone(conf) + ["copy", "--links", "--exclude", "/manifest.json", folder, dest])
    # The manifest goes last: a folder without it is an unfinished backup.
    run(rclone(conf) + ["copyto", os.path.join(folder, "manifest.json"), dest + "/manifest.json"])
    log("uploaded %s" % dest)
    prune_rclone(cfg, conf, stamp)


def prune_rclone(cfg, conf, current):
    backups = rclone_list(cfg, conf)
    complete = [b for b in backups if b["complete"]]
    newest = complete[-1]["name"] if complete else None
    cutoff = now() - datetime.timedelta(days=cfg["retention_days"])
    stale = now() - datetime.timedelta(days=1)
    for b in backups:
        if b["name"] in (current, newest):
            continue
        t = datetime.datetime.fromisoformat(b["time"])
        if (b["complete"] and t < cutoff) or (not b["complete"] and t < stale):
            run(rclone(conf) + ["purge", cfg["target"] + "/" + b["name"]])
            log("removed %s backup %s (retention_days = %d)" % (
                "old" if b["complete"] else "unfinished", b["name"], cfg["retention_days"]))


# borg ----------------------------------------------------------------------

def borg_env(cfg, passfile, keyfile=None, known_hosts=None):
    env = dict(os.environ)
    env["BORG_PASSCOMMAND"] = "cat " + passfile
    env["BORG_RELOCATED_REPO_ACCESS_IS_OK"] = "yes"
    env["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
    env["BORG_DELETE_I_KNOW_WHAT_I_AM_DOING"] = "NO"
    rsh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
    if keyfile:
        rsh += ["-i", keyfile, "-o", "IdentitiesOnly=yes"]
    if known_hosts:
        rsh += ["-o", "UserKnownHostsFile=" + known_hosts]
    env["BORG_RSH"] = " ".join(rsh)
    return env


def borg(cfg, *args):
    argv = ["borg", args[0]]
    if cfg.get("remote_path"):
        argv += ["--remote-path", cfg["remote_path"]]
    return argv + list(args[1:])


def borg_running():
    """Whether a borg process runs on this server (the stale-lock check)."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(os.path.basename(a) == b"borg" for a in argv[:2]):
            return True
    return False


LOCK_ERRORS = ("Failed to create/acquire the lock", "LockTimeout", "lock.exclusive")


def borg_locked(cfg, env, argv, cwd=None):
    """Runs a borg command that takes the repository's lock; breaks a stale lock once."""
    r = run(argv, env=env, cwd=cwd, check=False)
    if r.returncode in (0, 1):
        if r.returncode == 1:
            log("borg warning: " + r.stderr.strip()[-500:])
        return r
    if not any(e in r.stderr for e in LOCK_ERRORS):
        raise Failure("%s failed with exit code %d: %s" % (
            " ".join(argv[:2]), r.returncode, r.stderr.strip()[-800:]))
    if borg_running():
        raise Failure("the repository is locked and a borg process runs on this server: "
                      "another backup is running, so its lock was left alone", BUSY)
    log("the repository's lock is stale (no borg process runs here): breaking it")
    run(borg(cfg, "break-lock", cfg["repository"]), env=env)
    r = run(argv, env=env, cwd=cwd, check=False)
    if r.returncode not in (0, 1):
        raise Failure("%s failed with exit code %d: %s" % (
            " ".join(argv[:2]), r.returncode, r.stderr.strip()[-800:]))
    return r


def borg_read(cfg, env, argv, cwd=None):
    """A read-only borg command: waits for the lock, then reads without it (never breaks one)."""
    r = run(argv, env=env, cwd=cwd, check=False)
    if r.returncode not in (0, 1) and any(e in r.stderr for e in LOCK_ERRORS):
        log("the repository is locked: reading without the lock")
        r = run(argv[:2] + ["--bypass-lock"] + argv[2:], env=env, cwd=cwd, check=False)
    return r


def borg_prune_args(cfg):
    args = []
    if cfg.get("keep_within"):
        args += ["--keep-within", cfg["keep_within"]]
    for unit in ("hourly", "daily", "weekly", "monthly"):
        n = cfg["keep_" + unit]
        if n > 0:
            args += ["--keep-" + unit, str(n)]
    return args


def borg_backup(cfg, folder, stamp):
    env = borg_env(cfg, cfg["passphrase_file"], cfg.get("ssh_key_file"), cfg.get("known_hosts"))
    lock_wait = ["--lock-wait", str(cfg["lock_wait"])]
    archive = cfg["repository"] + "::" + cfg["archive_prefix"] + stamp
    borg_locked(cfg, env, borg(cfg, "create", *lock_wait, "--compression", cfg["compression"],
                               archive, "."), cwd=folder)
    log("created archive %s%s" % (cfg["archive_prefix"], stamp))
    keep = borg_prune_args(cfg)
    if keep:
        r = borg_locked(cfg, env, borg(cfg, "prune", *lock_wait, "--list", "--glob-archives",
                                       cfg["archive_prefix"] + "*", *keep, cfg["repository"]))
        pruned = [l for l in r.stderr.splitlines() if l.startswith("Pruning archive")]
        for line in pruned:
            log(line.strip())
        borg_locked(cfg, env, borg(cfg, "compact", *lock_wait, cfg["repository"]))


def borg_list(cfg, env):
    r = borg_read(cfg, env, borg(cfg, "list", "--lock-wait", "10", "--json", "--glob-archives",
                                 cfg["archive_prefix"] + "*", cfg["repository"]))
    if r.returncode not in (0, 1):
        raise Failure("borg list failed: " + r.stderr.strip()[-800:])
    out = []
    for a in json.loads(r.stdout)["archives"]:
        t = stamp_time(a["name"][len(cfg["archive_prefix"]):])
        if t is not None:
            out.append({"name": a["name"], "time": t.isoformat(), "complete": True})
    return sorted(out, key=lambda b: b["time"])


def borg_init(cfg):
    env = borg_env(cfg, cfg["passphrase_file"], cfg.get("ssh_key_file"), cfg.get("known_hosts"))
    r = run(borg(cfg, "info", cfg["repository"]), env=env, check=False)
    if r.returncode == 0:
        log("repository exists")
        return
    if "does not exist" not in r.stderr and "is not a valid repository" not in r.stderr:
        raise Failure("borg info failed: " + r.stderr.strip()[-800:])
    run(borg(cfg, "init", "--encryption", cfg["encryption"], "--make-parent-dirs",
             cfg["repository"]), env=env)
    log("created repository %s" % cfg["repository"])


# commands ------------------------------------------------------------------

def cmd_run(path):
    with open(path) as f:
        cfg = json.load(f)
    lock = open(cfg["staging_dir"] + ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Failure("another backup of %s is running" % cfg["app"], BUSY)
    stamp = now().strftime(STAMP)
    try:
        folder, manifest = snapshot(cfg, stamp)
        if not manifest["databases"] and not manifest["files"]:
            log("warning: nothing to back up (no database in %s, no media)" % cfg["data_dir"])
        if cfg["backend"] == "rclone":
            rclone_backup(cfg, folder, stamp)
        else:
            borg_backup(cfg, folder, stamp)
        log("backup %s complete" % stamp)
    finally:
        shutil.rmtree(cfg["staging_dir"], ignore_errors=True)


def cmd_init(path):
    with open(path) as f:
        borg_init(json.load(f))


class Secrets:
    """Secrets from stdin, in 0600 files of a private folder for the length of one command."""

    def __init__(self, req):
        self.dir = tempfile.mkdtemp(prefix="djaploy-secrets-")
        self.req = req

    def file(self, key):
        value = self.req.get(key)
        if value is None:
            return None
        path = os.path.join(self.dir, key)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value if value.endswith("\n") or key == "passphrase" else value + "\n")
        return path

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def litestream_list(src, conf):
    out = []
    for db in src["databases"]:
        r = run(["litestream", "snapshots", "-config", conf, db["path"]])
        for line in r.stdout.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5:
                out.append({"name": "%s@%s/%s" % (db["name"], cols[1], cols[2]),
                            "time": cols[4], "complete": True})
    return sorted(out, key=lambda b: b["time"])


def source_lister(src, secrets):
    if src["backend"] == "litestream":
        conf = secrets.file("litestream_yml")
        return lambda: litestream_list(src, conf)
    if src["backend"] == "rclone":
        conf = secrets.file("rclone_conf")
        return lambda: rclone_list(src, conf)
    env = borg_env(src, secrets.file("passphrase"), secrets.file("ssh_key"),
                   os.path.join(secrets.dir, "known_hosts"))
    return lambda: borg_list(src, env)


def cmd_list():
    req = json.load(sys.stdin)
    secrets = Secrets(req)
    try:
        print(json.dumps(source_lister(req["source"], secrets)()))
    finally:
        secrets.close()


def fetch(req, secrets, dest):
    src, name = req["source"], req["backup"]
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest, mode=0o700)
    if src["backend"] == "litestream":
        conf = secrets.file("litestream_yml")
        databases = []
        for db in src["databases"]:
            out = os.path.join(dest, "db", db["name"])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            argv = ["litestream", "restore", "-config", conf, "-o", out]
            if req.get("timestamp"):
                argv += ["-timestamp", req["timestamp"]]
            run(argv + [db["path"]])
            databases.append({"name": db["name"], "bytes": os.path.getsize(out)})
        with open(os.path.join(dest, "manifest.json"), "w") as f:
            json.dump({"format": 1, "databases": databases, "files": []}, f)
    elif src["backend"] == "rclone":
        conf = secrets.file("rclone_conf")
        argv = rclone(conf) + ["copy", "--links", src["target"] + "/" + name, dest]
        if req["db_only"]:
            argv += ["--include", "/db/**", "--include", "/manifest.json"]
        run(argv)
    else:
        env = borg_env(src, secrets.file("passphrase"), secrets.file("ssh_key"),
                       os.path.join(secrets.dir, "known_hosts"))
        paths = ["db", "manifest.json"] if req["db_only"] else []
        r = borg_read(src, env, borg(src, "extract", "--lock-wait", "10",
                                     src["repository"] + "::" + name, *paths), cwd=dest)
        if r.returncode not in (0, 1):
            # Paths missing from the archive (no database) are a warning, not a failure.
            if "never matched" not in r.stderr:
                raise Failure("borg extract failed: " + r.stderr.strip()[-800:])
    manifest_path = os.path.join(dest, "manifest.json")
    if not os.path.isfile(manifest_path):
        raise Failure("backup %s has no manifest.json: it is not a complete djaploy backup" % name)
    with open(manifest_path) as f:
        manifest = json.load(f)
    for db in manifest["databases"]:
        run([sys.executable, "-c", CHECK, os.path.join(dest, "db", db["name"])])
    return manifest


def systemctl(*args):
    return subprocess.run(["systemctl", *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def swap_in(src, dest, owner):
    """Replaces folder dest with src; the old one is removed only once the new one is there."""
    old = dest + ".djaploy-old"
    shutil.rmtree(old, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        os.rename(dest, old)
    shutil.move(src, dest)
    run(["chown", "-R", owner + ":" + owner, dest])
    shutil.rmtree(old, ignore_errors=True)


def make_dirs(path, entry):
    """Creates missing folders owned by the app's user: SQLite writes its journal next to a database."""
    if os.path.isdir(path):
        return
    make_dirs(os.path.dirname(path), entry)
    os.mkdir(path, 0o755)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def apply(req, dest, manifest):
    t = req["target"]
    owner = t["app_user"]
    entry = pwd.getpwnam(owner)
    for db in manifest["databases"]:
        path = os.path.join(t["data_dir"], db["name"])
        make_dirs(os.path.dirname(path), entry)
        # The old database's journal belongs to the old content: never replay it onto the new.
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.lexists(path + suffix):
                os.remove(path + suffix)
        shutil.move(os.path.join(dest, "db", db["name"]), path)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o640)
        log("restored database %s" % path)
    if req["db_only"]:
        return
    for rel in manifest["files"]:
        src = os.path.join(dest, rel)
        if not os.path.isdir(src):
            continue
        if rel == "media":
            target = t["media_dir"]
        else:
            target = os.path.join(t["shared_dir"], rel[len("shared/"):])
        swap_in(src, target, owner)
        log("restored %s" % target)


def cmd_restore():
    req = json.load(sys.stdin)
    secrets = Secrets(req)
    dest = req["target"]["staging_dir"]
    stopped, result = [], {"ok": False}
    try:
        manifest = fetch(req, secrets, dest)
        secrets.close()
        log("fetched %s: %d databases%s, integrity ok" % (
            req["backup"], len(manifest["databases"]),
            "" if req["db_only"] else ", " + (", ".join(manifest["files"]) or "no files")))
        for unit in req["target"]["units"]:
            if systemctl("is-active", "--quiet", unit).returncode == 0:
                r = systemctl("stop", unit)
                if r.returncode != 0:
                    raise Failure("systemctl stop %s failed: %s" % (unit, r.stderr.strip()))
                stopped.append(unit)
                log("stopped %s" % unit)
        apply(req, dest, manifest)
        result = {"ok": True, "databases": [d["name"] for d in manifest["databases"]],
                  "files": [] if req["db_only"] else manifest["files"]}
    finally:
        secrets.close()
        failed = []
        for unit in stopped:
            r = systemctl("start", unit)
            if r.returncode == 0:
                log("started %s" % unit)
            else:
                failed.append(unit)
                log("could not start %s: %s" % (unit, r.stderr.strip()))
        shutil.rmtree(dest, ignore_errors=True)
        result["stopped"] = stopped
        result["start_failed"] = failed
        print("@@djaploy-restore " + json.dumps(result), flush=True)
    if failed:
        raise Failure("restored, but %s did not start again" % ", ".join(failed))


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "run":
            cmd_run(argv[2])
        elif len(argv) == 3 and argv[1] == "init":
            cmd_init(argv[2])
        elif argv[1:] == ["list"]:
            cmd_list()
        elif argv[1:] == ["restore"]:
            cmd_restore()
        else:
            print(__doc__ or "usage: backup.py run CONFIG | init CONFIG | list | restore",
                  file=sys.stderr)
            return 2
    except Failure as e:
        print("error: %s" % e, file=sys.stderr, flush=True)
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
`;
