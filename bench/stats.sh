#!/usr/bin/env bash
# `berth stats --no-stream` with 100 running containers (target: < 200 ms):
# one short sampling window (100 ms) for the CPU figure, every container's
# cgroup files read twice, its interfaces' counters once.
# The peer figure: docker's CLI waits a whole second per snapshot; dockerd
# (run with --bridge=none as the benchmarks run it) is timed the same way.
# Usage: bench/stats.sh [WORKDIR]   (RUNS=10 by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-/var/tmp/berth-bench-stats}
runs=${RUNS:-10}
n=${CONTAINERS:-100}
cargo build --release --quiet
rm -rf "$work" && mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
b() { BERTH_BRIDGE=none "$PWD/target/release/berth" --root "$work/root" --runroot "$work/run" "$@"; }
cleanup() {
  b rm -f $(b ps -aq) >/dev/null 2>&1 || true
  rm -rf "$work/run"
}
trap cleanup EXIT
b import -c 'CMD ["sh"]' "$work/rootfs.tar" busybox >/dev/null
for i in $(seq "$n"); do b run -d --name "s$i" busybox sleep 600 >/dev/null; done
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.1f}')" "$@"; }
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.2f}')" "$1" "$2"; }
times=()
for _ in $(seq "$runs"); do
  t0=$(date +%s.%N); rows=$(b stats --no-stream | wc -l); t1=$(date +%s.%N)
  times+=("$(ms "$t0" "$t1")")
done
echo "stats --no-stream, $n running containers ($((rows - 1)) rows): median $(median "${times[@]}") ms over $runs runs (target < 200 ms)"
