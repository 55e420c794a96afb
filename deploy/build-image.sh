#!/usr/bin/env bash
# Builds the ferrofs image (default tag ferrofs:local) from binaries built on this host.
#   deploy/build-image.sh [BIN_DIR]
# BIN_DIR defaults to $FERROFS_BIN_DIR, then $CARGO_TARGET_DIR/debug, then target/debug.
# Build the binaries first: cargo build --workspace --bins. The host is Debian bookworm,
# so its binaries run in the bookworm image.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
bin_dir="${1:-${FERROFS_BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/debug}}"
tag="${FERROFS_IMAGE:-ferrofs:local}"

for b in ferrofs ferrofs-meta ferrofs-data; do
  [[ -x "$bin_dir/$b" ]] || {
    echo "build-image: $bin_dir/$b not found; run: cargo build --workspace --bins" >&2
    exit 1
  }
done

"$here/base-image.sh"

ctx="$(mktemp -d /tmp/ferrofs-image.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
mkdir "$ctx/bin"
for b in ferrofs ferrofs-meta ferrofs-data; do
  # Debug info is most of a debug build's size; the image does not need it.
  objcopy --strip-debug "$bin_dir/$b" "$ctx/bin/$b" 2>/dev/null || cp "$bin_dir/$b" "$ctx/bin/$b"
done
cp "$here/Dockerfile" "$here/entrypoint.sh" "$ctx/"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
echo "build-image: built $tag from $bin_dir"
