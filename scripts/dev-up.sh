#!/usr/bin/env bash
# Builds ferrofs, starts a local cluster (3 metadata + 3 data servers) under ./.ferrofs-dev and
# mounts it with FUSE at $FERROFS_MOUNT (default /mnt/ferrofs; set FERROFS_MOUNT= to not mount).
# Extra arguments go to `ferrofs dev up` (see `target/debug/ferrofs dev up --help`), e.g. --detach
# or --mount DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --workspace --bins

args=(dev up --dir "${FERROFS_DEV_DIR:-$PWD/.ferrofs-dev}")
mount=${FERROFS_MOUNT-/mnt/ferrofs}
given_mount=0
for a in "$@"; do
  case $a in --mount | --mount=*) given_mount=1 ;; esac
done
if [[ -n $mount && $given_mount == 0 ]]; then
  args+=(--mount "$mount")
fi
exec target/debug/ferrofs "${args[@]}" "$@"
