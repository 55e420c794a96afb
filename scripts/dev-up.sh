#!/usr/bin/env bash
# Builds ferrofs and starts a local cluster (3 metadata + 3 data servers) under ./.ferrofs-dev.
# Extra arguments go to `ferrofs dev up` (see `target/debug/ferrofs dev up --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --workspace --bins
exec target/debug/ferrofs dev up --dir "${FERROFS_DEV_DIR:-$PWD/.ferrofs-dev}" "$@"
