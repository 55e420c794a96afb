#!/usr/bin/env bash
# Installs the system packages ferrofs needs to build, test and mount (Debian, as root).
# Safe to run again: it only installs what is missing.
set -euo pipefail

packages=(
  libclang-dev clang   # bindgen for RocksDB's C API
  fuse3                # fusermount3 for `ferrofs mount`
  git rsync sqlite3 fio tar diffutils  # real programs the mount tests run
  chromium             # headless browser for the dashboard test (tests/tests/observability.rs)
  python3 python3-pip  # the Prometheus text parser the metrics test checks with
  docker.io docker-compose debootstrap  # the compose cluster tests (tests/tests/docker_*.rs)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python's prometheus_client parses /metrics in tests/tests/observability.rs.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "install-deps: installing the Python prometheus-client package"
  python3 -m pip install --quiet prometheus-client 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages prometheus-client
fi

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi
