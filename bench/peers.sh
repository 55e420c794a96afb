#!/usr/bin/env bash
# bench/peers.sh [ROUNDS] — the peer comparison of /work/shared/bench/peers (native ext4, bindfs,
# MooseFS with goal 3) with ferrofs added as a fourth target: a local dev cluster of 3 metadata
# and 3 data servers, replication 3, mounted with `ferrofs dev up --mount`. The targets run
# round-robin for ROUNDS rounds (default 1) so that machine noise spreads evenly; the table is
# the median (min–max) per metric. Needs root. The workload, MooseFS setup/teardown and table
# scripts are used from $PEERS, unchanged.
# Env: TARGETS ("native bindfs moosefs ferrofs"), PEERS (/work/shared/bench/peers),
#      BENCH_ROOT (/var/tmp/peers-bench), OUTDIR ($BENCH_ROOT/results/ferrofs-<timestamp>),
#      FERROFS_BENCH_DIR (/var/tmp/ferrofs-bench), FERROFS_MNT (/mnt/ferrofs),
#      KEEP_MOUNTS (0: unmount, stop and delete the clusters at the end),
#      plus workload.sh's own (SEQ_SIZE, RAND_SIZE, RAND_RUNTIME, FSYNC_RUNTIME, NFILES, NDIRS).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PEERS=${PEERS:-/work/shared/bench/peers}
ROUNDS=${1:-${ROUNDS:-1}}
BASE=${BENCH_ROOT:-/var/tmp/peers-bench}
OUTDIR=${OUTDIR:-$BASE/results/ferrofs-$(date +%Y%m%d-%H%M%S)}
TARGETS=${TARGETS:-"native bindfs moosefs ferrofs"}
KEEP_MOUNTS=${KEEP_MOUNTS:-0}
BINDFS_SRC=$BASE/bindfs-src
BINDFS_MNT=${BINDFS_MNT:-/mnt/bindfs}
MFS_MNT=${MFS_MNT:-/mnt/mfs}
FERROFS_DIR=${FERROFS_BENCH_DIR:-/var/tmp/ferrofs-bench}
FERROFS_MNT=${FERROFS_MNT:-/mnt/ferrofs}
FERROFS=$REPO/target/debug/ferrofs
export MFS_MNT

[ "$(id -u)" = 0 ] || { echo "peers.sh: must run as root" >&2; exit 1; }
[ -x "$PEERS/workload.sh" ] || { echo "peers.sh: no workload.sh in $PEERS" >&2; exit 1; }
has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

missing=()
command -v fio >/dev/null || missing+=(fio)
if has_target bindfs && ! command -v bindfs >/dev/null; then missing+=(bindfs); fi
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
if has_target ferrofs; then
  cargo build --workspace --bins
fi
mkdir -p "$OUTDIR" "$BASE/native" "$BINDFS_SRC" "$BINDFS_MNT"

cleanup() {
  [ "$KEEP_MOUNTS" = 1 ] && return 0
  if mountpoint -q "$BINDFS_MNT"; then
    umount "$BINDFS_MNT" || fusermount -u "$BINDFS_MNT" || true
  fi
  if has_target moosefs; then "$PEERS/teardown-moosefs.sh" --purge || true; fi
  if has_target ferrofs && [ -d "$FERROFS_DIR" ]; then
    "$FERROFS" dev down --dir "$FERROFS_DIR" || true
    rm -rf "$FERROFS_DIR"
  fi
}
trap cleanup EXIT

dir_of() {
  case $1 in
    native) echo "$BASE/native" ;;
    bindfs) echo "$BINDFS_MNT" ;;
    moosefs) echo "$MFS_MNT" ;;
    ferrofs) echo "$FERROFS_MNT" ;;
    *) echo "unknown target $1" >&2; return 1 ;;
  esac
}

for t in $TARGETS; do
  case $t in
    bindfs) mountpoint -q "$BINDFS_MNT" || bindfs "$BINDFS_SRC" "$BINDFS_MNT" ;;
    moosefs) "$PEERS/setup-moosefs.sh" ;;
    ferrofs)
      if ! mountpoint -q "$FERROFS_MNT"; then
        "$FERROFS" dev up --dir "$FERROFS_DIR" --mount "$FERROFS_MNT" --detach > "$OUTDIR/ferrofs-up.txt"
      fi
      ;;
  esac
done

# Machine facts after the setup, so the MooseFS version is known on a first run.
{
  echo "date: $(date -Is)"
  echo "kernel: $(uname -r)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  free -h
  df -hT "$BASE"
  echo "mount opts: $(findmnt -no FSTYPE,OPTIONS -T "$BASE")"
  echo "fio: $(fio --version); bindfs: $(bindfs --version 2>&1 | head -1)"
  echo "moosefs: $(mfsmaster -v 2>&1 | head -1 || echo none)"
  echo "ferrofs: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown), target/debug (dev profile)"
  echo "targets: $TARGETS; rounds: $ROUNDS"
  echo "workload env: SEQ_SIZE=${SEQ_SIZE:-1G} RAND_SIZE=${RAND_SIZE:-256M} RAND_RUNTIME=${RAND_RUNTIME:-20}" \
       "FSYNC_RUNTIME=${FSYNC_RUNTIME:-10} NFILES=${NFILES:-5000} NDIRS=${NDIRS:-2000}"
} > "$OUTDIR/machine.txt" 2>&1

for r in $(seq 1 "$ROUNDS"); do
  for t in $TARGETS; do
    echo "=== round $r/$ROUNDS: $t ($(dir_of "$t")) $(date +%T)" >&2
    "$PEERS/workload.sh" "$(dir_of "$t")" "$t" | tee -a "$OUTDIR/raw.txt"
  done
done

if has_target ferrofs; then
  FERROFS_CONFIG=$FERROFS_DIR/client.toml "$FERROFS" status > "$OUTDIR/ferrofs-status.txt" 2>&1 || true
fi
python3 "$PEERS/table.py" "$OUTDIR/raw.txt" | tee "$OUTDIR/table.md"
echo "results in $OUTDIR" >&2
