#!/bin/bash
# Peak RSS of `rrestore -rf` (and of a second rrestore binary, to compare
# two builds) on generated ext4 images of N inodes, BIG of them in one
# directory and the rest 100 to a directory, as recorded in BENCHMARKS.md.
#
#   benches/scripts/restore-memory.sh RDUMP "N:BIG N:BIG ..." RRESTORE [RRESTORE_B]
#
# Needs root (loop mount) and about 2 GB under $SCRATCH (default /var/tmp).
# Each -r runs three times into a fresh directory on /dev/shm; the figures
# are /usr/bin/time's maximum resident set size in KiB.
set -euo pipefail
rdump=$1; sizes=$2; shift 2
scratch=${SCRATCH:-/var/tmp}/restore-memory
mkdir -p "$scratch"
for size in $sizes; do
  n=${size%%:*}; big=${size##*:}; d=$scratch/$n
  rm -rf "$d"; mkdir -p "$d/mnt"
  mke2fs -q -F -t ext4 -N $((n + 20000)) "$d/img" 1500M
  mount -o loop "$d/img" "$d/mnt"
  python3 - "$d/mnt" "$n" "$big" <<'PY'
import os, sys
root, n, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.mkdir(f"{root}/big")
for i in range(big):
    os.close(os.open(f"{root}/big/file-{i:07d}", os.O_CREAT | os.O_WRONLY, 0o644))
rest, k = n - big, 0
while k < rest:
    d = f"{root}/d{k // 100:05d}"
    os.mkdir(d)
    k += 1
    for j in range(min(99, rest - k)):
        os.close(os.open(f"{d}/f{j:02d}", os.O_CREAT | os.O_WRONLY, 0o644))
        k += 1
PY
  umount "$d/mnt"
  "$rdump" -0 -f "$d/r.dump" "$d/img" > /dev/null 2>&1
  for bin in "$@"; do
    peaks=()
    for _ in 1 2 3; do
      t=$(mktemp -d /dev/shm/restore-memory.XXXX)
      peaks+=("$(cd "$t" && { /usr/bin/time -f %M "$bin" -rf "$d/r.dump" > /dev/null 2> "$t.err"; tail -1 "$t.err"; })")
      rm -rf "$t" "$t.err"
    done
    echo "$n inodes ($big in one directory): $bin -r peak RSS KiB: ${peaks[*]}"
  done
  rm -rf "$d"
done
