lock=$1 owner=$2 wait=$3 timeout=$4
dir=${lock%/*}
mkdir -p "$dir"
case $(stat -c '%u:%A' "$dir") in 0:d????-??-?) ;; *)
  echo "refusing $dir: it must be owned by root and writable by root only" >&2; exit 78;;
esac
exec 9>>"$lock"
# take_or_name: takes the lock if it is free, or sets $holder to its holder's owner line. A holder
# writes that line just after it took the lock and removes it just before it gives the lock back;
# a run that comes in between finds no line, or the line of an earlier holder that is gone (killed).
# So a line counts only when its shell still runs (its PID and start time, as unlock checks), and
# until one does, for up to 2 s, this looks again: the lock may be free by then. After that, the
# holder is not known (no line: djaploy says "an unknown run").
take_or_name() {
  local tries=0 pid started
  while ! flock -n 9; do
    holder=$(cat "$lock.owner" 2>/dev/null)
    read -r pid started _ <<<"$holder"
    case $pid in '' | *[!0-9]*) ;; *)
      if [ -n "$started" ] && [ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" = "$started" ]
      then return 1; fi
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 40 ]; then holder=; return 1; fi
    sleep 0.05
  done
}
# Before it waits for the lock, it says who holds it: djaploy shows that, and the shell may be what
# opened the connection (lib/exec/ssh.ts), which counts as made at the first line.
if ! take_or_name; then
  if [ "$wait" = 0 ]; then echo "HELD $holder"; exit 75; fi
  echo "WAITING $holder"
  if ! flock -w "$wait" 9 && ! take_or_name; then echo "HELD $holder"; exit 75; fi
fi
started=$(cut -d' ' -f22 "/proc/$$/stat")
printf '%s %s %s\n' "$$" "$started" "$owner" > "$lock.owner"
echo LOCKED
# From here on this shell's own stderr, and the `then` script's, go nowhere, as djaploy read none of
# it after LOCKED: when this shell opened the connection, its stderr is its stdout
# (lib/exec/ssh.ts), which from here carries only the lines djaploy reads. The commands it runs keep
# theirs, in files (below).
exec 2>/dev/null
# The `then` script's answer goes out whole once it ended, as one line: "THEN <exit code> <its
# output in base64>". Each piece sent on its own would be a read and a wake-up for djaploy (the
# facts are a few dozen), on every host, and each line one more turn of a loop that, hot over a
# fleet, V8 would compile. (A shell variable holds no NUL byte: the facts script's own command
# substitutions have dropped them already; the x keeps the output's trailing newlines.) printf and base64 write 4 kB at a time: dd gathers
# them (iflag=fullblock) into one write. Not a here-string: a large one is a /tmp file.
if [ -n "$5" ]; then
  then_out=$(sh -c "$5" 9>&- </dev/null; then_code=$?; printf x; exit "$then_code")
  then_code=$?
  { printf 'THEN %s ' "$then_code"; printf '%s' "${then_out%x}" | base64 -w 0; echo; } |
    dd bs=1M iflag=fullblock status=none
fi
# The shell ends after $timeout seconds without a line: any line counts (djaploy sends a heartbeat
# only when it sent nothing else for a while, and takes a command's answer as a heartbeat's).
# Each line is a heartbeat N (answered "beat N"), or "run MARK SCRIPT_BYTES INPUT_BYTES" followed by
# the script and its input, raw: the script runs as root like this shell, its input on stdin; out
# come "MARK start", its stdout, a newline and MARK, its stderr, a newline and "MARK CODE"; or
# "end ..." (below), the last command, after which the shell ends.
# A command runs in the background, so this shell goes on answering heartbeats while it runs (a
# migration may take minutes) and ends at once, freeing the lock, when djaploy goes, whatever still
# runs. Each answer goes out whole under an flock of $said (each holder opens it anew), so answers
# never interleave. Commands sent together run side by side, as on ssh sessions of their own.
# A command's stdout and stderr go to files of its own in a folder only root may enter, and are sent
# on once it ended: no process it starts (a chain's commands run as the app user through sudo) ever
# holds this shell's stdin, stdout or stderr, which carry root's commands and their output for the
# rest of the run. Each command's files are new: one an earlier process kept open is never read.
# Inside a chain, each of the app user's commands has files of its own too (lib/exec/chain.ts).
# A folder left by an earlier holder (killed) goes: that holder is gone, as this shell holds the lock.
rm -rf "$lock".held.*
held=$(mktemp -d "$lock.held.XXXXXX") || exit 1
trap 'rm -rf "$held"' EXIT
said=$held/said
: >"$said" || exit 1
# take SCRIPT_BYTES INPUT_BYTES: reads a command's script and its input, raw, into $script, $input.
take() {
  LC_ALL=C read -r -N "$1" script || exit 1
  input=
  if [ "$2" != 0 ]; then LC_ALL=C read -r -N "$2" input || exit 1; fi
}
# perform OUT ERR: runs $script, with $input on its stdin (none: /dev/null), its output into OUT, ERR.
perform() {
  if [ -z "$input" ]; then
    bash -c "$script" >"$1" 2>"$2" </dev/null
  else
    printf '%s' "$input" | bash -c "$script" >"$1" 2>"$2"
  fi
}
n=0
while read -r -t "$timeout" n_or_run; do
  case $n_or_run in
    run\ *)
      read -r _ mark size insize <<<"$n_or_run"
      take "$size" "$insize"
      n=$((n + 1))
      out=$held/$n.out err=$held/$n.err
      # A subshell runs no EXIT trap of this shell's: the folder stays.
      {
        perform "$out" "$err"
        code=$?
        # The answer is gathered whole by dd (iflag=fullblock: it reads until its block is full or
        # the input ends) and goes out in one write, not one per piece: each piece would be a read
        # and a wake-up for djaploy, a few per command, on every host.
        {
          echo "$mark start"
          if [ -s "$out" ]; then cat "$out"; fi
          printf '\n%s\n' "$mark"
          if [ -s "$err" ]; then cat "$err"; fi
          printf '\n%s %s\n' "$mark" "$code"
        } | { flock 7; dd bs=1M iflag=fullblock status=none; } 7>"$said"
        # Emptied, not removed (a process the command left running may hold them open), and never
        # made anew: a next holder may be removing this folder (this shell was killed).
        truncate -c -s 0 "$out" "$err"
      } 9>&- </dev/null &
      ;;
    end\ *)
      # The run's last command, "end SCRIPT_BYTES INPUT_BYTES" and its script and input as for
      # run, sent with the end of djaploy's input: it runs while the lock is still held (the
      # deploy history's record, which no other run may write beside), and its exit code is this
      # shell's, and so ssh's. No answer to read: djaploy waits for ssh's exit anyway, and each
      # answer is a read and a wake-up for it, on every host (docs/benchmarks.md).
      read -r _ size insize <<<"$n_or_run"
      take "$size" "$insize"
      perform /dev/null /dev/null 9>&-
      code=$?
      rm -f "$lock.owner"
      exit "$code"
      ;;
    *) { flock 7; echo "beat $n_or_run"; } 7>"$said" ;;
  esac
done
rm -f "$lock.owner"
