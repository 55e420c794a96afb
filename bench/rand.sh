#!/usr/bin/env bash
# bench/rand.sh DIR [randread|randwrite|randwrite-fsync] — a random 4 KiB row of the peer
# workload alone, for quick A/B checks of one change: lay out a 256 MiB file, drop caches,
# then fio 4 KiB psync random reads (default), writes, or writes each followed by `fsync`,
# for 15 s. Prints `MODE IOPS N`; for plain writes also the seconds fio took in all, which
# include the flush at its close.
# Needs root (drop_caches).
# Env: RAND_SIZE (256M), RAND_RUNTIME (15).
set -euo pipefail
DIR=${1:?usage: bench/rand.sh DIR [randread|randwrite|randwrite-fsync]}
MODE=${2:-randread}
case $MODE in
  randread | randwrite) RW=$MODE; EXTRA=() ;;
  randwrite-fsync) RW=randwrite; EXTRA=(--fsync=1) ;;
  *) echo "bench/rand.sh: unknown mode $MODE" >&2; exit 2 ;;
esac
F=$DIR/rand.$$.dat
trap 'rm -f "$F"' EXIT
FIO=(fio --output-format=terse --ioengine=psync --iodepth=1 --numjobs=1 --fallocate=none
  --filename="$F" --bs=4k --size="${RAND_SIZE:-256M}")
"${FIO[@]}" --name=layout --rw=randread --create_only=1 >/dev/null
sync; echo 3 > /proc/sys/vm/drop_caches
start=$(date +%s.%N)
# terse v3: field 8 is the read IOPS, field 49 the write IOPS
"${FIO[@]}" --name="$RW" --rw="$RW" "${EXTRA[@]}" --time_based --runtime="${RAND_RUNTIME:-15}" |
  awk -F';' -v rw="$RW" -v mode="$MODE" '{printf "%s IOPS %d\n", mode, (rw == "randread" ? $8 : $49)}'
if [ "$MODE" = randwrite ]; then
  echo "fio seconds $(echo "$(date +%s.%N) - $start" | bc)"
fi
