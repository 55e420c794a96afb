#!/usr/bin/env bash
# Runs every ferrofs test: unit tests, the openraft storage suite, and the multi-process
# cluster tests against the real binaries. This is the command README.md and CI use.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# CI builds once from a fresh clone: incremental caches (about 3 GB) would never be reused,
# and the cluster tests need that disk (a 2 GiB file is stored three times).
if [[ "${CI:-}" == "true" ]]; then
  export CARGO_INCREMENTAL=0
fi
# One profile (dev, with optimised dependencies) for binaries and tests: RocksDB builds once.
cargo build --workspace --bins
# Cluster tests spawn many processes; two test binaries at a time keep a 2-core machine responsive.
export FERROFS_BIN_DIR="$PWD/target/debug"
# The compose tests need a docker engine and the image, built once here. In CI they must
# run (FERROFS_DOCKER_TESTS=1 makes them fail rather than skip); elsewhere they skip.
if scripts/docker-up.sh; then
  export FERROFS_DOCKER_TESTS=1
elif [[ "${CI:-}" == "true" ]]; then
  echo "test: docker is needed in CI for tests/tests/docker_*.rs" >&2
  exit 1
fi
cargo test --workspace --no-fail-fast -- --test-threads="${FERROFS_TEST_THREADS:-2}"
