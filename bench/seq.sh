#!/usr/bin/env bash
# bench/seq.sh DIR — the sequential rows of the peer workload alone, for quick A/B checks of
# one change: drop caches, write 1 GiB with fio (1 MiB psync writes, fsync at the end), drop
# caches, read it back. Prints `write MiB/s N` and `read MiB/s N`. Needs root (drop_caches).
# Env: SEQ_SIZE (1G).
set -euo pipefail
DIR=${1:?usage: bench/seq.sh DIR}
F=$DIR/seq.$$.dat
trap 'rm -f "$F"' EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
fio_seq() {
  fio --output-format=terse --ioengine=psync --iodepth=1 --numjobs=1 --fallocate=none \
    --name="$1" --filename="$F" --rw="$1" --bs=1M --size="${SEQ_SIZE:-1G}" "${@:2}"
}
drop
# terse v3: field 48 is the write bandwidth, field 7 the read bandwidth, both in KiB/s
fio_seq write --end_fsync=1 | awk -F';' '{printf "write MiB/s %.1f\n", $48/1024}'
drop
fio_seq read | awk -F';' '{printf "read MiB/s %.1f\n", $7/1024}'
