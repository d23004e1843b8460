#!/usr/bin/python3
# Written by djaploy: backups of a Django app's SQLite databases and media files.
import datetime, errno, fcntl, json, os, re, shlex, shutil, stat, subprocess, sys, tempfile

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


def run(argv, env=None, cwd=None, check=True, capture=True):
    r = subprocess.run(argv, env=env, cwd=cwd, text=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None)
    if check and r.returncode != 0:
        tail = "\n".join(((r.stderr or "") + (r.stdout or "")).strip().splitlines()[-8:])
        raise Failure("%s failed with exit code %d: %s" % (argv[0], r.returncode, tail))
    return r


def not_root(command):
    """The commands that touch the app's data run as its user: a link it plants reaches nothing of root's."""
    if os.geteuid() == 0:
        raise Failure("backup.py %s runs as the app's user, not as root "
                      "(the backup unit's User=, or sudo -u)" % command, 2)


CREDENTIAL_KEYS = ("rclone_config", "passphrase_file", "ssh_key_file", "known_hosts")


def load_settings(path):
    """The timer's settings: with systemd's LoadCredential=, the file and the credentials it
    names are read from $CREDENTIALS_DIRECTORY (root-owned originals the app user cannot change)."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and "/" not in path:
        path = os.path.join(creds, path)
    with open(path) as f:
        cfg = json.load(f)
    if creds:
        for key in CREDENTIAL_KEYS:
            if cfg.get(key):
                cfg[key] = os.path.join(creds, os.path.basename(cfg[key]))
    return cfg


def private_dir(path):
    """An empty folder of this user's (a link planted there is removed, not followed)."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700)


def open_lock(path):
    """The lock file, never through a link; one left by another user (root, before) is replaced."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.EACCES, errno.EPERM):
            raise
    os.unlink(path)
    return os.open(path, flags | os.O_EXCL, 0o600)


def is_sqlite(path):
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def find_databases(cfg):
    """[(name, path)]: the configured databases, each of which must exist (a backup without the
    database it was set up for is a failure, not a backup); with none configured, every SQLite
    file found in the data folder."""
    if not cfg.get("scan_data_dir", False):
        found, missing = [], []
        for db in cfg["databases"]:
            if os.path.isfile(db["path"]) and not os.path.islink(db["path"]):
                found.append((db["name"], db["path"]))
            else:
                missing.append(db["path"])
        if missing:
            raise Failure("the database %s does not exist (or is not a file): nothing was backed "
                          "up. Deploy the app (its migrate creates it), or correct the databases "
                          "setting / DATABASE_PATH in [env] and run djaploy configure"
                          % ", ".join(missing))
        return found
    data = cfg["data_dir"]
    found = []
    for root, dirs, files in os.walk(data):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if not os.path.islink(path) and is_sqlite(path):
                found.append((os.path.relpath(path, data), path))
    return found


def snapshot(cfg, stamp):
    """The backup's folder in the staging area: database snapshots, media, manifest."""
    staging = cfg["staging_dir"]
    private_dir(staging)
    folder = os.path.join(staging, stamp)
    os.makedirs(os.path.join(folder, "db"), mode=0o700)
    databases = []
    for rel, src in find_databases(cfg):
        dst = os.path.join(folder, "db", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        run([sys.executable, "-c", SNAPSHOT, src, dst])
        databases.append({"name": rel, "path": src, "bytes": os.path.getsize(dst)})
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

def borg_env(cfg, passfile, keyfile=None, known_hosts=None, base_dir=None):
    """borg's environment. No BORG_*_IS_OK answers: a repository borg does not trust (unknown and
    unencrypted, or moved) stops the run. The repository host's key is pinned in known_hosts
    (root's file, written once by known-hosts): a changed key stops the run too."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("BORG_") and key.endswith("_IS_OK"):
            del env[key]
    env["BORG_PASSCOMMAND"] = "cat " + shlex.quote(passfile)
    env["BORG_DELETE_I_KNOW_WHAT_I_AM_DOING"] = "NO"
    if base_dir:
        # borg's cache and its record of the repositories it trusts, kept across runs.
        os.makedirs(base_dir, mode=0o700, exist_ok=True)
        env["BORG_BASE_DIR"] = base_dir
    rsh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
           "-o", "UpdateHostKeys=no", "-o", "UserKnownHostsFile=" + (known_hosts or "/dev/null")]
    if keyfile:
        rsh += ["-i", keyfile, "-o", "IdentitiesOnly=yes"]
    env["BORG_RSH"] = " ".join(shlex.quote(a) for a in rsh)
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


def settings_env(cfg):
    return borg_env(cfg, cfg["passphrase_file"], cfg.get("ssh_key_file"), cfg.get("known_hosts"),
                    cfg.get("borg_base_dir"))


def borg_backup(cfg, folder, stamp):
    env = settings_env(cfg)
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


TRUST_QUESTIONS = ("previously unknown unencrypted repository", "was previously located at")


def borg_init(cfg):
    env = settings_env(cfg)
    r = run(borg(cfg, "info", cfg["repository"]), env=env, check=False)
    if r.returncode == 0:
        log("repository exists")
        return
    if any(q in r.stderr for q in TRUST_QUESTIONS):
        raise Failure("borg does not trust %s yet and asks: %s\nIf it is yours, answer borg once "
                      "by hand as %s with BORG_BASE_DIR=%s (see docs/operations-modules.md)" % (
                          cfg["repository"], r.stderr.strip()[-400:], cfg["app_user"],
                          cfg.get("borg_base_dir")))
    if "does not exist" not in r.stderr and "is not a valid repository" not in r.stderr:
        raise Failure("borg info failed: " + r.stderr.strip()[-800:])
    run(borg(cfg, "init", "--encryption", cfg["encryption"], "--make-parent-dirs",
             cfg["repository"]), env=env)
    log("created repository %s" % cfg["repository"])


def ssh_endpoint(repository):
    """(host, port) of an ssh repository URL, None for a repository on this server."""
    m = re.match(r"^ssh://(?:[^@/]+@)?(\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+)(?::(\d+))?/", repository)
    if m:
        return m.group(1).strip("[]"), int(m.group(2) or 22)
    if repository.startswith("/") or repository.startswith("file://"):
        return None
    m = re.match(r"^(?:[^@/:]+@)?([^:/\[\]]+):", repository)
    if m:
        return m.group(1), 22
    return None


KEY_LINE = re.compile(r"^\S+ (ssh-[a-z0-9-]+|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/]+=*$")


def root_file(path):
    """A path under /etc/djaploy/ whose every folder is root's and writable by root only."""
    if not path.startswith("/etc/djaploy/") or "/../" in path or "/./" in path:
        raise Failure("refusing %s: known_hosts lives under /etc/djaploy/" % path, 2)
    parent = os.path.dirname(path)
    os.makedirs(parent, mode=0o700, exist_ok=True)
    d = parent
    while d != "/":
        st = os.lstat(d)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            raise Failure("refusing %s: %s is not a folder only root can change" % (path, d), 2)
        d = os.path.dirname(d)


def cmd_known_hosts():
    """As root: pins the repository host's key in root's known_hosts the first time (the run of
    configure or restore that first meets the host), and prints the file. Later runs only check."""
    req = json.load(sys.stdin)
    path = req["known_hosts"]
    root_file(path)
    # The file exists even when empty: systemd's LoadCredential= needs it.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    endpoint = ssh_endpoint(req["repository"])
    if endpoint is not None:
        host, port = endpoint
        name = host if port == 22 else "[%s]:%d" % (host, port)
        known = os.path.exists(path) and run(
            ["ssh-keygen", "-F", name, "-f", path], check=False).returncode == 0
        if not known:
            r = run(["ssh-keyscan", "-T", "15", "-p", str(port), host], check=False)
            lines = [l for l in r.stdout.splitlines() if KEY_LINE.match(l)]
            if not lines:
                raise Failure("could not read the ssh host key of %s (port %d): %s" % (
                    host, port, r.stderr.strip()[-300:]))
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write("\n".join(lines) + "\n")
            log("pinned the ssh host key of %s" % name)
    content = ""
    if os.path.exists(path):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            content = f.read()
    print("@@djaploy-known-hosts " + json.dumps(content), flush=True)


# commands ------------------------------------------------------------------

def cmd_run(path):
    not_root("run")
    os.umask(0o077)
    cfg = load_settings(path)
    lock = open_lock(cfg["staging_dir"] + ".lock")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Failure("another backup of %s is running" % cfg["app"], BUSY)
    stamp = now().strftime(STAMP)
    try:
        folder, manifest = snapshot(cfg, stamp)
        if not manifest["databases"]:
            log("warning: no database in this backup (%s)" % (
                "no SQLite file in " + cfg["data_dir"] if cfg.get("scan_data_dir", False)
                else "none configured"))
        if cfg["backend"] == "rclone":
            rclone_backup(cfg, folder, stamp)
        else:
            borg_backup(cfg, folder, stamp)
        log("backup %s complete" % stamp)
    finally:
        shutil.rmtree(cfg["staging_dir"], ignore_errors=True)
        os.close(lock)


def cmd_init(path):
    not_root("init")
    borg_init(load_settings(path))


class Secrets:
    """Secrets from stdin, in 0600 files of a private folder for the length of one command."""

    def __init__(self, req):
        self.dir = tempfile.mkdtemp(prefix="djaploy-secrets-")
        self.req = req

    def file(self, key):
        value = self.req.get(key)
        if value is None or value == "":
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
    env = request_env(src, secrets)
    return lambda: borg_list(src, env)


def request_env(src, secrets):
    """borg's environment for list and fetch: known_hosts is root's pinned file, passed in."""
    return borg_env(src, secrets.file("passphrase"), secrets.file("ssh_key"),
                    secrets.file("known_hosts"), secrets.req.get("borg_base_dir"))


def cmd_list():
    not_root("list")
    req = json.load(sys.stdin)
    secrets = Secrets(req)
    try:
        print(json.dumps(source_lister(req["source"], secrets)()))
    finally:
        secrets.close()


def fetch(req, secrets, dest):
    src, name = req["source"], req["backup"]
    private_dir(dest)
    if src["backend"] == "litestream":
        conf = secrets.file("litestream_yml")
        databases = []
        for db in src["databases"]:
            if req.get("databases") and db["name"] not in req["databases"]:
                continue
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
        env = request_env(src, secrets)
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
    for db in chosen_databases(req, manifest, name):
        run([sys.executable, "-c", CHECK, os.path.join(dest, "db", db["name"])])
    return manifest


def chosen_databases(req, manifest, backup):
    """The backup's databases to restore: those --database names (each must be in the backup),
    else all; each must be one the target's configuration names, when it names any."""
    held = [db["name"] for db in manifest["databases"]]
    chosen = req.get("databases")
    if chosen:
        missing = [n for n in chosen if n not in held]
        if missing:
            raise Failure("Choose a database that backup %s holds: it has no %s; it holds %s"
                          % (backup, ", ".join(missing), ", ".join(held) or "no database"))
    picked = [db for db in manifest["databases"] if not chosen or db["name"] in chosen]
    expected = req.get("expected")
    if expected is not None:
        unknown = [db["name"] for db in picked if db["name"] not in expected]
        if unknown:
            raise Failure(
                "Choose the databases to restore with --database, or list %s in the target's "
                "%s: backup %s holds %s, which the target's configuration does not name "
                "(%s names %s)" % (
                    ", ".join(unknown), req.get("expected_key") or "databases setting", backup,
                    ", ".join(unknown),
                    req.get("expected_from") or "it", ", ".join(expected) or "none"))
    return picked


def swap_in(src, dest):
    """Replaces folder dest with src; the old one is removed only once the new one is there."""
    old = dest + ".djaploy-old"
    if os.path.islink(old):
        os.unlink(old)
    shutil.rmtree(old, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        os.rename(dest, old)
    shutil.move(src, dest)
    shutil.rmtree(old, ignore_errors=True)


def manifest_of(dest):
    """The fetched manifest, checked: names of databases and files stay inside their folders."""
    with open(os.path.join(dest, "manifest.json")) as f:
        manifest = json.load(f)
    for db in manifest["databases"]:
        name = db["name"]
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or "~" in parts[1:] or name in ("~", "~/"):
            raise Failure("the backup names a database outside the app's folders: %r" % name)
    for rel in manifest["files"]:
        if rel != "media" and not (rel.startswith("shared/") and ".." not in rel.split("/")):
            raise Failure("the backup names files outside the app's folders: %r" % rel)
    return manifest


def database_target(t, name):
    """Where a backup's database goes on the target: "~/<path>" below the app user's home (the
    file was outside the data folder), any other name below the data folder."""
    if name.startswith("~/"):
        if not t.get("home_dir"):
            raise Failure("the backup holds %s, outside the data folder: restore it with a "
                          "djaploy that knows the target's home folder" % name)
        return os.path.join(t["home_dir"], name[2:])
    return os.path.join(t["data_dir"], name)


def apply(req, dest, manifest):
    t = req["target"]
    for db in chosen_databases(req, manifest, req["backup"]):
        path = database_target(t, db["name"])
        # SQLite writes its journal next to a database.
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        # The old database's journal belongs to the old content: never replay it onto the new.
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.lexists(path + suffix):
                os.remove(path + suffix)
        src = os.path.join(dest, "db", db["name"])
        os.chmod(src, 0o640)
        if os.path.isdir(path) and not os.path.islink(path):
            raise Failure("%s is a folder, not a database: left as it is" % path)
        shutil.move(src, path)
        log("restored database %s" % path)
    if req["db_only"]:
        return
    for rel in manifest["files"]:
        src = os.path.join(dest, rel)
        if not os.path.isdir(src) or os.path.islink(src):
            continue
        if rel == "media":
            target = t["media_dir"]
        else:
            target = os.path.join(t["shared_dir"], rel[len("shared/"):])
        swap_in(src, target)
        log("restored %s" % target)


def cmd_fetch():
    """Fetches the backup into the staging folder and checks every database (the app still runs)."""
    not_root("fetch")
    os.umask(0o027)
    req = json.load(sys.stdin)
    secrets = Secrets(req)
    dest = req["target"]["staging_dir"]
    try:
        manifest = fetch(req, secrets, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        secrets.close()
    manifest_of(dest)
    log("fetched %s: %d databases%s, integrity ok" % (
        req["backup"], len(chosen_databases(req, manifest, req["backup"])),
        "" if req["db_only"] else ", " + (", ".join(manifest["files"]) or "no files")))


def cmd_apply():
    """Puts the fetched backup in place (the app's units are stopped meanwhile by root)."""
    not_root("apply")
    os.umask(0o027)
    req = json.load(sys.stdin)
    dest = req["target"]["staging_dir"]
    try:
        manifest = manifest_of(dest)
        apply(req, dest, manifest)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    result = {"ok": True,
              "databases": [d["name"] for d in chosen_databases(req, manifest, req["backup"])],
              "files": [] if req["db_only"] else manifest["files"]}
    print("@@djaploy-restore " + json.dumps(result), flush=True)


def cmd_discard():
    not_root("discard")
    dest = json.load(sys.stdin)["target"]["staging_dir"]
    if os.path.islink(dest):
        os.unlink(dest)
    shutil.rmtree(dest, ignore_errors=True)


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "run":
            cmd_run(argv[2])
        elif len(argv) == 3 and argv[1] == "init":
            cmd_init(argv[2])
        elif argv[1:] == ["known-hosts"]:
            cmd_known_hosts()
        elif argv[1:] == ["list"]:
            cmd_list()
        elif argv[1:] == ["fetch"]:
            cmd_fetch()
        elif argv[1:] == ["apply"]:
            cmd_apply()
        elif argv[1:] == ["discard"]:
            cmd_discard()
        else:
            print("usage: backup.py run CONFIG | init CONFIG | known-hosts | list | fetch | apply"
                  " | discard", file=sys.stderr)
            return 2
    except Failure as e:
        print("error: %s" % e, file=sys.stderr, flush=True)
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
