#!/usr/bin/env bash
# Throwaway Debian 12 test servers: systemd-nspawn containers in network namespaces.
#
#   scripts/testhosts.sh deps [--demo]        install the controller's Debian packages (--demo: only the hosts')
#   scripts/testhosts.sh image                build (or reuse) the cached base image; prints its dir
#   scripts/testhosts.sh up NAME INDEX [--persistent]
#                                             boot host NAME at 10.231.INDEX.2 (controller side .1)
#   scripts/testhosts.sh reboot NAME          reboot it (inside) and boot it again; --persistent hosts only
#   scripts/testhosts.sh down NAME            cut host NAME's power, remove its namespace and cgroups
#   scripts/testhosts.sh down-all             stop every host this script started
#
# Each host boots on a throwaway overlay of the base image (--volatile=overlay:
# writes go to memory and vanish when it stops), so every test
# starts from the same clean server. The image has a `deploy` user with
# passwordless sudo and the controller's test key, as a fresh cloud server has.
# With --persistent the host's writes go to a folder on disk instead (an
# overlay mounted here, removed by `down`), so it keeps its state across
# `reboot`: a volatile host would come back from a reboot as the bare image.
set -euo pipefail

CACHE=${DJAPLOY_TESTHOST_CACHE:-/var/cache/djaploy-testhosts}
STATE=${DJAPLOY_TESTHOST_STATE:-/run/djaploy-testhosts}
# The persistent hosts' disks (--persistent).
DISK=${DJAPLOY_TESTHOST_DISK:-/var/tmp/djaploy-testhosts}
MIRROR=${DJAPLOY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a fresh server has, plus the app's Python dependencies (PyPI is not
# reachable here, so the example app takes Django and gunicorn from Debian).
# nginx, rsync and python3-venv are left out on purpose: `djaploy configure`
# installs them, and the end-to-end tests prove it.
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,sudo,python3,iproute2,ca-certificates,python3-django,gunicorn
# Packages `configure` installs, pre-downloaded into the image's apt cache so
# that installing them on a test host fetches only the package lists.
PRELOAD="nginx rsync python3-venv python3-pip"
IMAGE_VERSION=3

die() { echo "testhosts: $*" >&2; exit 1; }

image_dir() {
  local key
  key=$(printf '%s\n' "$PACKAGES" "$PRELOAD" "$IMAGE_VERSION" | sha256sum | cut -c1-12)
  echo "$CACHE/bookworm-$key"
}

# What booting a host and deploying to it needs on the controller (the demo).
HOST_DEPS="debootstrap systemd-container iptables rsync openssh-client curl"
# What the tests add: shells for completions, load, ACME, backup tools,
# Debian's Django for the test that runs `python3 manage.py deploy` here, and
# for the package-index test: pip/wheel/setuptools (it builds its wheels) and
# Poetry 1.3 (it writes the poetry.lock the hosts' Poetry installs from);
# ShellCheck, for CI's check of the shell programs djaploy runs on servers.
TEST_DEPS="zsh fish wrk certbot pebble openssl borgbackup rclone sqlite3 python3-django
  python3-pip python3-wheel python3-setuptools python3-poetry shellcheck"

cmd_deps() {
  local need=() pkgs=$HOST_DEPS
  [ "${1:-}" = --demo ] || pkgs="$pkgs $TEST_DEPS"
  for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ -x /usr/bin/systemd-nspawn ] || need+=(systemd-container)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

cmd_image() {
  local dir; dir=$(image_dir)
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  # One build at a time (the demo and the tests started together on a cold machine).
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.build.lock"
  flock 8
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  command -v debootstrap >/dev/null || die "debootstrap is missing: run 'scripts/testhosts.sh deps'"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  echo "testhosts: building base image in $dir (about a minute)" >&2
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$dir.tmp/rootfs" "$MIRROR" >"$dir.tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$dir.tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  local root=$dir.tmp/rootfs
  # Pre-download what configure installs, so the hosts need no network.
  chroot "$root" apt-get update -qq >/dev/null 2>&1 || true
  # shellcheck disable=SC2086 # one package per word
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only $PRELOAD >/dev/null \
    || die "could not pre-download $PRELOAD"
  ssh-keygen -q -t ed25519 -N '' -C djaploy-tests -f "$dir.tmp/id_ed25519"
  chroot "$root" useradd --create-home --shell /bin/bash deploy
  echo 'deploy ALL=(ALL) NOPASSWD:ALL' >"$root/etc/sudoers.d/deploy"
  chmod 0440 "$root/etc/sudoers.d/deploy"
  for home in "$root/home/deploy" "$root/root"; do
    install -d -m 0700 "$home/.ssh"
    install -m 0600 "$dir.tmp/id_ed25519.pub" "$home/.ssh/authorized_keys"
  done
  chroot "$root" chown -R deploy:deploy /home/deploy/.ssh
  # Without a local name for the host, every sudo waits on DNS.
  echo "testhost" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 testhost\n' >"$root/etc/hosts"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" systemctl enable ssh >/dev/null 2>&1 || true
  chroot "$root" systemctl mask systemd-resolved.service >/dev/null 2>&1 || true
  touch "$dir.tmp/.complete"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  echo "$dir"
}

cmd_up() {
  local name=${1:?usage: up NAME INDEX} idx=${2:?usage: up NAME INDEX} persistent=${3:-}
  local dir; dir=$(cmd_image)
  mkdir -p "$STATE"
  cmd_down "$name" 2>/dev/null || true
  if [ "$persistent" = --persistent ]; then
    # The host's writes land in $DISK/$name/upper, on the controller's disk: a reboot keeps them.
    local disk=$DISK/$name
    mkdir -p "$disk/upper" "$disk/work" "$disk/root"
    mount -t overlay overlay -o "lowerdir=$dir/rootfs,upperdir=$disk/upper,workdir=$disk/work" "$disk/root"
    echo "$disk/root" >"$STATE/$name.root"
  fi
  ip netns add "$name"
  ip link add "v$name" type veth peer name host0 netns "$name"
  ip addr add "10.231.$idx.1/30" dev "v$name"
  ip link set "v$name" up
  ip netns exec "$name" ip addr add "10.231.$idx.2/30" dev host0
  ip netns exec "$name" ip link set host0 up
  ip netns exec "$name" ip link set lo up
  # Outbound NAT so that apt on the host reaches the Debian mirror.
  ip netns exec "$name" ip route add default via "10.231.$idx.1"
  sysctl -qw net.ipv4.ip_forward=1
  # Each host's systemd holds inotify instances; the kernel's default of 128 per user is
  # reached at about 20 hosts ("Failed to allocate manager object: Too many open files").
  [ "$(sysctl -n fs.inotify.max_user_instances)" -ge 4096 ] || sysctl -qw fs.inotify.max_user_instances=4096
  iptables -t nat -C POSTROUTING -s 10.231.0.0/16 ! -d 10.231.0.0/16 -j MASQUERADE 2>/dev/null \
    || iptables -t nat -A POSTROUTING -s 10.231.0.0/16 ! -d 10.231.0.0/16 -j MASQUERADE
  : >"$STATE/$name.log"
  boot "$name" "$dir"
  wait_ssh "$name" "$dir" "10.231.$idx.2"
}

# Host $1's own cgroups, one per hierarchy systemd uses: name=systemd and the unified one (cgroup v1
# or hybrid), or the unified one alone (cgroup v2).
cgroups() {
  if [ -f /sys/fs/cgroup/cgroup.procs ]; then echo "/sys/fs/cgroup/djaploy-testhosts/$1"; return; fi
  local h
  for h in systemd unified; do
    [ -f "/sys/fs/cgroup/$h/cgroup.procs" ] && echo "/sys/fs/cgroup/$h/djaploy-testhosts/$1"
  done
  return 0
}

# Starts systemd-nspawn for host $1 (image $2): on its persistent root, or a volatile overlay.
# nspawn starts in cgroups of the host's own. Started from one cgroup (with --keep-unit, and no
# systemd here to give each a scope), every container's systemd would manage the same
# /payload/system.slice/...: one container removing a unit's empty cgroup while another starts the
# same unit failed that start ("status=219/CGROUP"; systemd-user-sessions among them, which left
# /run/nologin and a host that refused the deploy user's logins).
boot() {
  local name=$1 dir=$2
  local root=(--volatile=overlay -D "$dir/rootfs")
  [ -f "$STATE/$name.root" ] && root=(-D "$(cat "$STATE/$name.root")")
  local cgs; mapfile -t cgs < <(cgroups "$name")
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'n=$1; shift
    for cg in "${@:1:n}"; do
      { mkdir -p "$cg" && echo $$ >"$cg/cgroup.procs"; } ||
        echo "testhosts: could not start in $cg: this host shares its cgroups with others" >&2
    done
    shift "$n"; exec "$@"' bash "${#cgs[@]}" "${cgs[@]}" \
    systemd-nspawn -q -b "${root[@]}" --machine="$name" --register=no --keep-unit \
    --network-namespace-path="/run/netns/$name" >>"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

wait_ssh() {
  local name=$1 dir=$2 ip=$3
  for _ in $(seq 1 300); do
    # timeout: during boot sshd may accept and then stall the login (PAM waiting for logind).
    if timeout 5 ssh -q -i "$dir/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o ConnectTimeout=1 "deploy@$ip" true 2>/dev/null; then
      echo "$ip"; return
    fi
    kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null || { tail -20 "$STATE/$name.log" >&2; die "host $name did not boot"; }
    sleep 0.2
  done
  die "host $name did not answer on SSH within 60 s (log: $STATE/$name.log)"
}

# Ends host $1's container at once, as pulling a machine's power plug would. Every process of
# the container is in the host's network namespace, its init among them: SIGKILL to that init
# ends the container's whole PID namespace. Killing only systemd-nspawn does not: the
# container goes on, orphaned, with its sshd on the host's address and its writes on the host's
# disk, and a host booted after it shares both.
power_off() {
  local name=$1 pid
  pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
  for _ in $(seq 1 50); do
    local left; left=$(ip netns pids "$name" 2>/dev/null || true)
    [ -z "$left" ] && break
    # shellcheck disable=SC2086 # one pid per word
    kill -9 $left 2>/dev/null || true
    sleep 0.1
  done
  [ -n "$pid" ] || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# How long a reboot may take to shut the host down before its power is cut: longer than the
# app units' TimeoutStopSec (30 s), as systemd on a real server waits for them.
SHUTDOWN_SECONDS=45

# Reboots a --persistent host: `systemctl reboot` inside (nspawn then exits, as a
# machine's power cycles), then boots it again on the same disk and waits for SSH.
cmd_reboot() {
  local name=${1:?usage: reboot NAME}
  [ -f "$STATE/$name.root" ] || die "host $name is not --persistent: a reboot would lose its state"
  local dir; dir=$(cmd_image)
  local pid; pid=$(cat "$STATE/$name.pid")
  local ip; ip=$(ip netns exec "$name" ip -4 -o addr show host0 | awk '{sub(/\/.*/, "", $4); print $4}')
  timeout 10 ssh -q -i "$dir/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 "root@$ip" 'systemctl reboot' 2>/dev/null || true
  local started=$SECONDS
  for _ in $(seq 1 $((SHUTDOWN_SECONDS * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # Said on the host's console too, which a test quotes when the host does not answer.
  if kill -0 "$pid" 2>/dev/null; then
    echo "testhosts: host $name was still shutting down after $SHUTDOWN_SECONDS s; cutting its power" \
      | tee -a "$STATE/$name.log" >&2
  else
    echo "testhosts: host $name shut down in $((SECONDS - started)) s" >>"$STATE/$name.log"
  fi
  power_off "$name"
  # A boot can fail for the controller's reasons (systemd saw "Too many open files" once,
  # with many hosts at once): then once more.
  (boot "$name" "$dir" && wait_ssh "$name" "$dir" "$ip") || {
    echo "testhosts: host $name did not come back, booting it once more" >&2
    power_off "$name"
    sleep 1
    boot "$name" "$dir"
    wait_ssh "$name" "$dir" "$ip"
  }
}

# A throwaway host needs no clean shutdown: its power is cut.
cmd_down() {
  local name=${1:?usage: down NAME}
  power_off "$name"
  rm -f "$STATE/$name.pid"
  local cg
  for cg in $(cgroups "$name"); do
    if [ -d "$cg" ]; then find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  if [ -f "$STATE/$name.root" ]; then
    umount "$(cat "$STATE/$name.root")" 2>/dev/null || true
    rm -rf "${DISK:?}/$name"
    rm -f "$STATE/$name.root"
  fi
  ip netns del "$name" 2>/dev/null || true
  ip link del "v$name" 2>/dev/null || true
}

cmd_down_all() {
  [ -d "$STATE" ] || return 0
  local f
  for f in "$STATE"/*.pid; do [ -e "$f" ] && cmd_down "$(basename "$f" .pid)"; done
  return 0
}

case "${1:-}" in
  deps) shift; cmd_deps "$@" ;;
  image) cmd_image ;;
  key) echo "$(cmd_image)/id_ed25519" ;;
  up) shift; cmd_up "$@" ;;
  reboot) shift; cmd_reboot "$@" ;;
  down) shift; cmd_down "$@" ;;
  down-all) cmd_down_all ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
