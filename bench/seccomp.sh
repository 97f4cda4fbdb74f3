#!/usr/bin/env bash
# The default seccomp profile's cost, in one run:
#  1. `berth run --rm busybox true` with the default profile vs
#     `--security-opt seccomp=unconfined` (target: <= 1.05x);
#  2. the same vs `runc run` of the same bundle (berth's own config.json,
#     default profile included) — runc alone, no engine (target: <= 1.1x).
# Containers get no network (--bridge none) so only seccomp differs.
# Usage: bench/seccomp.sh [WORKDIR]   (RUNS=30 by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-/var/tmp/berth-bench-seccomp}
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

# runc's bundle: the config.json berth writes for this container, pointed
# at a plain copy of the rootfs.
id=$(b run -d busybox sleep 60)
mkdir -p "$work/bundle"
python3 - "$work/run/containers/$id/config.json" "$work/bundle/config.json" "$work/rootfs" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"] = {"path": sys.argv[3], "readonly": False}
spec["process"]["args"] = ["/bin/true"]
spec["process"]["terminal"] = False
spec["linux"].pop("cgroupsPath", None)
spec["mounts"] = [m for m in spec["mounts"] if not m["destination"].startswith("/etc/")]
assert "seccomp" in spec["linux"], "berth wrote no seccomp profile"
json.dump(spec, open(sys.argv[2], "w"))
PY
b rm -f "$id" >/dev/null

with=(); without=(); runc=()
for i in $(seq "$runs"); do
  t0=$(date +%s.%N); b run --rm busybox true; t1=$(date +%s.%N)
  b run --rm --security-opt seccomp=unconfined busybox true; t2=$(date +%s.%N)
  runc --root "$work/runc" run -b "$work/bundle" "bench$i" >/dev/null; t3=$(date +%s.%N)
  with+=("$(ms "$t0" "$t1")"); without+=("$(ms "$t1" "$t2")"); runc+=("$(ms "$t2" "$t3")")
done
mw=$(median "${with[@]}"); mo=$(median "${without[@]}"); mr=$(median "${runc[@]}")
echo "berth run --rm busybox true: default profile ${mw} ms, unconfined ${mo} ms: ratio $(ratio "$mw" "$mo") (target <= 1.05)"
echo "runc run of the same bundle with the same profile: ${mr} ms: berth/runc $(ratio "$mw" "$mr") (target <= 1.1)"
