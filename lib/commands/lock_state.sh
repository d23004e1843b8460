lock=$1 owner=$1.owner
case $(stat -c '%u:%A' "${lock%/*}" 2>/dev/null) in 0:d????-??-?) ;; *) echo free; exit 0;; esac
# Held: the owner record names a live process, started when the record says, that has the lock file
# open as its holder does (fd 9). The holder writes the record once it holds the lock and removes
# it before it lets go. (/proc/locks cannot tell: it leaves out a lock whose flock(1) has exited.)
if [ ! -f "$owner" ] || [ -L "$owner" ]; then echo free; exit 0; fi
record=$(head -c 4096 "$owner")
pid=${record%% *} rest=${record#* }
started=${rest%% *}
case $pid in ''|0*|*[!0-9]*) echo free; exit 0;; esac
[ "$(readlink "/proc/$pid/fd/9")" = "$lock" ] || { echo free; exit 0; }
[ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" = "$started" ] || { echo free; exit 0; }
echo held
printf '%s\n' "$record"
