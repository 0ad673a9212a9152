#!/usr/bin/env bash
# Prepare this machine (Debian 12, root) to run the lab and the tests. Idempotent and quick when
# everything is already there. Packages come from this machine's own apt and pip configuration.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[setup] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "run as root (podman is used rootful)"; exit 1; }

PKGS=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs containernetworking-plugins
      openssh-client python3-venv git make)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rootful podman on a VM without CAP_SYS_RESOURCE, on a hybrid cgroup layout, without systemd.
mkdir -p /etc/containers/containers.conf.d
conf=/etc/containers/containers.conf.d/50-lmsops.conf
want='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  printf '%s\n' "$want" >"$conf"
  log "wrote $conf"
fi

# Python tooling, pinned. Rebuilt when requirements-dev.txt changes.
PY=${LMSOPS_PYTHON:-python3}
stamp="$ROOT/.venv/.requirements.sha256"
want_sum=$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)
if [ ! -x "$ROOT/.venv/bin/ansible-playbook" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ]; then
  log "creating .venv from requirements-dev.txt"
  "$PY" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  "$ROOT/.venv/bin/pip" install -q -r "$ROOT/requirements-dev.txt" 2>&1 | grep -v "^WARNING: Location" || true
  "$ROOT/.venv/bin/ansible-playbook" --version >/dev/null
  printf '%s\n' "$want_sum" >"$stamp"
fi

# The collection where tools expect it: .collections/ansible_collections/lmsops/stack -> repo root.
mkdir -p "$ROOT/.collections/ansible_collections/lmsops"
ln -sfn ../../.. "$ROOT/.collections/ansible_collections/lmsops/stack"

# The lab's SSH key (git-ignored); Ansible reaches every lab and test host with it, as production does.
mkdir -p -m 0700 "$ROOT/.lab/ssh"
[ -f "$ROOT/.lab/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C lmsops-lab -f "$ROOT/.lab/ssh/id_ed25519"

"$ROOT/scripts/lab-image.sh" ${LMSOPS_REBUILD_IMAGE:+--rebuild}
