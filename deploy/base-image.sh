#!/usr/bin/env bash
# Makes sure the base image the Dockerfiles start from (debian:bookworm-slim) exists.
# Where an image registry is reachable, `docker pull` finds it and nothing else happens.
# Where none is (as on our build machines), it is built here from Debian's packages with
# debootstrap (minbase variant, the same package set as the official slim image) and loaded
# with `docker import`. Needs root and debootstrap for the local build.
set -euo pipefail

image="${FERROFS_BASE_IMAGE:-debian:bookworm-slim}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
  echo "base-image: pulled $image"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  echo "base-image: $image is not available and debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
fi

echo "base-image: no registry answered; building $image with debootstrap from $mirror"
root="$(mktemp -d /tmp/ferrofs-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  echo "base-image: debootstrap failed; its log: $root.log" >&2
  exit 1
}
# Like the official slim image: no apt caches, no docs, apt kept small.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$image" >/dev/null
rm -f "$root.log"
echo "base-image: built $image"
