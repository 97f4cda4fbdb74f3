# Sourced by the start benchmarks (seccomp.sh, userns.sh): builds berth
# (release), makes a fresh store in $work holding `busybox` (the host's
# busybox-static, imported), and defines b (berth on that store, no
# network), ms, median, ratio, timed and in_turn.
set -euo pipefail
work=$(realpath -m "$work")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${RUNS:-30}
cargo build --release --quiet
rm -rf "$work" && mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
b() { "$PWD/target/release/berth" --root "$work/root" --runroot "$work/run" --bridge none "$@"; }
b import -c 'CMD ["sh"]' "$work/rootfs.tar" busybox >/dev/null
b run --rm busybox true

ms() { python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.2f}')" "$1" "$2"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }

# timed ARRAY CMD...: runs CMD and appends its wall time in ms to ARRAY.
timed() {
  local -n into=$1; shift
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
  into+=("$(ms "$t0" "$t1")")
}
# in_turn I F1 F2...: runs the functions once each, starting with the
# (I mod N)th, so that over the runs each follows each other alike: a start
# right after another pays for the other's teardown the kernel finishes
# asynchronously (network namespace, cgroups).
in_turn() {
  local i=$1; shift
  local fns=("$@") k
  for k in "${!fns[@]}"; do "${fns[$(( (i + k) % ${#fns[@]} ))]}"; done
}
