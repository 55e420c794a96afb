#!/usr/bin/env bash
# Gets docker ready for the compose tests (tests/tests/docker_*.rs): starts dockerd when no
# engine answers (waiting for it with a deadline), then builds the base image if needed and
# the ferrofs:local image from the binaries in $FERROFS_BIN_DIR. Run after
# `cargo build --workspace --bins`. Exits non-zero, saying why, when docker cannot be used.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    echo "docker-up: no docker engine and no dockerd (apt-get install docker.io)" >&2
    exit 1
  fi
  echo "docker-up: starting dockerd (log: /tmp/ferrofs-dockerd.log)"
  nohup dockerd >/tmp/ferrofs-dockerd.log 2>&1 &
  deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "docker-up: dockerd did not answer within 60 s; see /tmp/ferrofs-dockerd.log" >&2
      exit 1
    fi
    sleep 1
  done
fi

deploy/build-image.sh "${FERROFS_BIN_DIR:-}"
