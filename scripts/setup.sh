#!/usr/bin/env bash
# Prepares a Debian 12 machine for edgelab: Debian packages, Node.js >= 22, npm dependencies.
# Idempotent: every step checks first and does nothing when already satisfied.
# Usage: scripts/setup.sh [--no-apt] [--no-npm]
#   Run as root, or as a user with sudo. Sourced by scripts/lab.sh and scripts/test.sh.
#   After it, "$EDGELAB_NODE_BIN" is on PATH when the system Node.js is older than 22.
set -euo pipefail

EDGELAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGELAB_MIN_NODE_MAJOR=22
EDGELAB_NODE_PKG="node@24"
EDGELAB_NODE_DIR="$EDGELAB_ROOT/.tools/node"
EDGELAB_NODE_BIN="$EDGELAB_NODE_DIR/node_modules/node/bin"

# Debian packages the lab and the test suite start for real.
EDGELAB_APT_PACKAGES=(
  nginx libnginx-mod-rtmp ffmpeg redis-server
  ansible ansible-lint
  openssh-client openssh-server iproute2 strace
  ca-certificates chromium wrk time
  frr gobgpd curl
  bind9 bind9-dnsutils
  # Test hosts: their root filesystem, the containers, mkfs/blkid for the storage tests.
  mmdebstrap systemd-container e2fsprogs
  # Container images: built with buildah over an mmdebstrap root filesystem, pushed with skopeo,
  # run by the tests with podman (runc) and pushed to a docker-registry (htpasswd: its users).
  buildah podman runc skopeo docker-registry apache2-utils openssl
)

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

apt_missing() {
  local pkg missing=()
  for pkg in "${EDGELAB_APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] || printf '%s\n' "${missing[@]}"
}

setup_apt() {
  command -v dpkg-query >/dev/null 2>&1 || die "this script supports Debian 12 (dpkg not found)"
  local missing
  mapfile -t missing < <(apt_missing)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all present"
    return
  fi
  log "Debian packages: installing ${missing[*]}"
  # Package installs must not start system-wide daemons (nginx on :80, redis on :6379, FRR):
  # edgelab starts its own instances on loopback. A temporary policy-rc.d says so to
  # invoke-rc.d; an existing policy file is left alone.
  local policy=/usr/sbin/policy-rc.d placed_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    placed_policy=1
  fi
  local rc=0
  {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  } >"$EDGELAB_ROOT/.tools/apt.log" 2>&1 || rc=$?
  [ "$placed_policy" -eq 1 ] && as_root rm -f "$policy"
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$EDGELAB_ROOT/.tools/apt.log" >&2
    die "apt-get install failed (full log: .tools/apt.log)"
  fi
}

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

setup_node() {
  if command -v node >/dev/null 2>&1 && [ "$(node_major node)" -ge "$EDGELAB_MIN_NODE_MAJOR" ]; then
    log "Node.js: $(node --version) (system)"
    return
  fi
  if [ -x "$EDGELAB_NODE_BIN/node" ] && [ "$(node_major "$EDGELAB_NODE_BIN/node")" -ge "$EDGELAB_MIN_NODE_MAJOR" ]; then
    log "Node.js: $("$EDGELAB_NODE_BIN/node" --version) (.tools/node)"
  else
    command -v npm >/dev/null 2>&1 || die "npm not found: install Debian's npm (apt-get install npm) or Node.js >= $EDGELAB_MIN_NODE_MAJOR"
    log "Node.js >= $EDGELAB_MIN_NODE_MAJOR not found; installing $EDGELAB_NODE_PKG into .tools/node (the system Node.js is left alone)"
    mkdir -p "$EDGELAB_NODE_DIR"
    npm install --silent --no-save --no-package-lock --prefix "$EDGELAB_NODE_DIR" "$EDGELAB_NODE_PKG" >/dev/null \
      || die "could not install $EDGELAB_NODE_PKG from the npm registry"
    [ -x "$EDGELAB_NODE_BIN/node" ] || die "$EDGELAB_NODE_PKG installed but $EDGELAB_NODE_BIN/node is missing"
  fi
  export PATH="$EDGELAB_NODE_BIN:$PATH"
}

setup_npm() {
  local stamp="$EDGELAB_ROOT/node_modules/.edgelab-lock"
  if [ -f "$stamp" ] && cmp -s "$EDGELAB_ROOT/package-lock.json" "$stamp" && [ -d "$EDGELAB_ROOT/dist" ]; then
    log "npm dependencies: up to date"
    return
  fi
  log "npm dependencies: npm ci"
  (cd "$EDGELAB_ROOT" && npm ci --no-fund --no-audit --loglevel=error) || die "npm ci failed"
  cp "$EDGELAB_ROOT/package-lock.json" "$stamp"
}

edgelab_setup() {
  local do_apt=1 do_npm=1 arg
  for arg in "$@"; do
    case "$arg" in
      --no-apt) do_apt=0 ;;
      --no-npm) do_npm=0 ;;
      -h|--help) sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      *) die "unknown option: $arg (see --help)" ;;
    esac
  done
  mkdir -p "$EDGELAB_ROOT/.tools"
  [ "$do_apt" -eq 1 ] && setup_apt
  setup_node
  [ "$do_npm" -eq 1 ] && setup_npm
  return 0
}

# Executed directly: run the setup. Sourced: the caller invokes edgelab_setup itself.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  edgelab_setup "$@"
  if [ "$(node_major node)" -lt "$EDGELAB_MIN_NODE_MAJOR" ]; then
    log "add Node.js $("$EDGELAB_NODE_BIN/node" --version) to your PATH: export PATH=\"$EDGELAB_NODE_BIN:\$PATH\""
  fi
fi
