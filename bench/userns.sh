#!/usr/bin/env bash
# The start cost of `--userns=auto`, in one run: `berth run --rm busybox true`
# with a user namespace of its own (a range taken in the database, the rootfs
# mounted through an ID-mapped mount, nothing chowned) vs without.
# Target: <= 1.2x. Runs alternate so that drift hits both alike.
# Containers get no network (--bridge none) so only the user namespace differs.
# Usage: bench/userns.sh [WORKDIR]   (RUNS=30 by default; the work directory
# must be searchable by others: the container's root is an unprivileged user)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-/var/tmp/berth-bench-userns}
runs=${RUNS:-30}
cargo build --release --quiet
rm -rf "$work" && mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/rootfs/etc"
chmod 0711 "$work"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
b() { "$PWD/target/release/berth" --root "$work/root" --runroot "$work/run" --bridge none "$@"; }
b import -c 'CMD ["sh"]' "$work/rootfs.tar" busybox >/dev/null
b run --rm busybox true
b run --rm --userns auto busybox true

ms() { python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.2f}')" "$1" "$2"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }

with=(); without=()
for i in $(seq "$runs"); do
  t0=$(date +%s.%N); b run --rm --userns auto busybox true; t1=$(date +%s.%N)
  b run --rm busybox true; t2=$(date +%s.%N)
  with+=("$(ms "$t0" "$t1")"); without+=("$(ms "$t1" "$t2")")
done
mw=$(median "${with[@]}"); mo=$(median "${without[@]}")
echo "berth run --rm busybox true on $(df --output=fstype "$work" | tail -1): --userns auto ${mw} ms, host user namespace ${mo} ms: ratio $(ratio "$mw" "$mo") (target <= 1.2)"
