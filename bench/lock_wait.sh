#!/usr/bin/env bash
# bench/lock_wait.sh DIR [ROUNDS] [WAITER_DIR] — how late a blocked `flock` is granted
# after the holder lets go: ROUNDS (10) times, a holder keeps an exclusive flock on a file in
# DIR for HOLD seconds (0.5) while a waiter blocks on it; prints the median and the largest
# delay from the holder's unlock call to the waiter's grant, in ms. The waiter opens the
# file through WAITER_DIR (default DIR): another mount of the same folder measures the
# wait across mounts.
set -euo pipefail
DIR=${1:?usage: bench/lock_wait.sh DIR [ROUNDS] [WAITER_DIR]}
ROUNDS=${2:-10}
WAITER_DIR=${3:-$DIR}
HOLD=${HOLD:-0.5}
exec python3 - "$DIR" "$ROUNDS" "$HOLD" "$WAITER_DIR" <<'PY'
import fcntl, os, statistics, sys, time
from multiprocessing import Event, Process, Queue

target, rounds, hold, waiter_dir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
name = f"lock_wait.{os.getpid()}"
path = os.path.join(target, name)
open(path, "w").close()

def holder(locked, released_at):
    with open(path) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        locked.set()
        time.sleep(hold)  # the waiter is blocked meanwhile; this is the workload
        released_at.put(time.monotonic())
        fcntl.flock(f, fcntl.LOCK_UN)

def waiter(granted_at):
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(waiter_dir, name)):  # another mount's caches
        if time.monotonic() > deadline:
            sys.exit("lock_wait: the file never showed up in the waiter's folder")
        time.sleep(0.05)
    with open(os.path.join(waiter_dir, name)) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        granted_at.put(time.monotonic())
        fcntl.flock(f, fcntl.LOCK_UN)

delays = []
try:
    for _ in range(rounds):
        locked, released_at, granted_at = Event(), Queue(), Queue()
        h = Process(target=holder, args=(locked, released_at))
        h.start()
        if not locked.wait(30):
            sys.exit("lock_wait: the holder never got the lock")
        w = Process(target=waiter, args=(granted_at,))
        w.start()
        delays.append((granted_at.get(timeout=60) - released_at.get(timeout=60)) * 1000)
        h.join()
        w.join()
finally:
    os.unlink(path)
print(f"lock wait ms median {statistics.median(delays):.1f} max {max(delays):.1f}")
PY
