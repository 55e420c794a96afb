#!/usr/bin/env bash
# bench/rand.sh DIR — the random-read row of the peer workload alone, for quick A/B checks of
# one change: lay out a 256 MiB file, drop caches, then fio 4 KiB psync random reads for 15 s.
# Prints `randread IOPS N`. Needs root (drop_caches).
# Env: RAND_SIZE (256M), RAND_RUNTIME (15).
set -euo pipefail
DIR=${1:?usage: bench/rand.sh DIR}
F=$DIR/rand.$$.dat
trap 'rm -f "$F"' EXIT
FIO=(fio --output-format=terse --ioengine=psync --iodepth=1 --numjobs=1 --fallocate=none
  --filename="$F" --bs=4k --size="${RAND_SIZE:-256M}")
"${FIO[@]}" --name=layout --rw=randread --create_only=1 >/dev/null
sync; echo 3 > /proc/sys/vm/drop_caches
# terse v3: field 8 is the read IOPS
"${FIO[@]}" --name=randread --rw=randread --time_based --runtime="${RAND_RUNTIME:-15}" |
  awk -F';' '{printf "randread IOPS %d\n", $8}'
