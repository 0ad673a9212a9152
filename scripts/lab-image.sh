#!/usr/bin/env bash
# Build the Debian 12 systemd host image that the lab and Molecule scenarios run on.
#   scripts/lab-image.sh            build only when the image is missing
#   scripts/lab-image.sh --rebuild  always rebuild
# The apt mirror comes from this machine's own apt sources; nothing here names a mirror host.
set -euo pipefail

IMAGE="${LMSOPS_LAB_IMAGE:-localhost/lmsops-debian12:latest}"
REBUILD=0
[ "${1:-}" = "--rebuild" ] && REBUILD=1

log() { printf '[lab-image] %s\n' "$*" >&2; }

# One build at a time: a second caller (another scenario, the lab) waits, then finds the image.
exec 8>/run/lock/lmsops-lab-image.lock
flock 8

if [ "$REBUILD" = 0 ] && podman image exists "$IMAGE"; then
  log "$IMAGE present (use --rebuild to build it again)"
  exit 0
fi

mirror() {
  # First Debian archive URI from deb822 sources, then from the classic sources.list.
  local uri=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' \
      /etc/apt/sources.list.d/*.sources | head -n1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' \
      /etc/apt/sources.list | head -n1)
  fi
  [ -n "$uri" ] || { log "no Debian mirror found in this machine's apt sources"; exit 1; }
  printf '%s\n' "$uri"
}

WORK=$(mktemp -d /var/tmp/lmsops-image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
MIRROR=$(mirror)
log "debootstrap bookworm from the host's apt mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,iputils-ping,ca-certificates,procps,curl,gnupg,sudo,openssh-server,netcat-openbsd,netbase \
  bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

# The host's apt sources and settings, so the hosts install from the same place this machine does.
rm -f "$ROOTFS/etc/apt/sources.list"
cp -a /etc/apt/sources.list.d/. "$ROOTFS/etc/apt/sources.list.d/"
find "$ROOTFS/etc/apt/sources.list.d" -type f ! -name '*.sources' ! -name '*.list' -delete
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$ROOTFS/etc/apt/sources.list"
cp -a /etc/apt/apt.conf.d/. "$ROOTFS/etc/apt/apt.conf.d/"
[ -d /etc/apt/auth.conf.d ] && cp -a /etc/apt/auth.conf.d/. "$ROOTFS/etc/apt/auth.conf.d/"

# Units that make no sense in a container.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-firstboot.service systemd-remount-fs.service sys-kernel-debug.mount \
  sys-kernel-tracing.mount dev-hugepages.mount nvmf-autoconnect.service; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
# Host keys are made on first boot (only then: a hardened host keeps the set it was given), so
# every lab host has its own.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
mkdir -p "$ROOTFS/etc/systemd/system/ssh.service.d"
cat >"$ROOTFS/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || /usr/bin/ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
UNIT
# Like a fresh cloud server: root logs in with a key the lab injects at start.
mkdir -p -m 0700 "$ROOTFS/root/.ssh"
rm -rf "$ROOTFS"/var/lib/apt/lists/*
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
touch -d @86400 "$ROOTFS/var/lib/apt/lists"
rm -rf "$ROOTFS"/var/cache/apt/*.bin

tar --numeric-owner -cf "$WORK/image.tar" -C "$ROOTFS" .
cat >"$WORK/Containerfile" <<'CF'
FROM scratch
ADD image.tar /
ENV container=podman
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
CF
log "podman build $IMAGE"
podman build --no-cache -q -t "$IMAGE" "$WORK" >/dev/null
log "built $IMAGE"
