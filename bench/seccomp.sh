#!/usr/bin/env bash
# The default seccomp profile's cost, in one run:
#  1. `berth run --rm busybox true` with the default profile vs
#     `--security-opt seccomp=unconfined` (target: <= 1.05x);
#  2. the same vs `runc run` of the same bundle (berth's own config.json,
#     default profile included) — runc alone, no engine (target: <= 1.1x).
# Containers get no network (--bridge none) so only seccomp differs.
# Usage: bench/seccomp.sh [WORKDIR]   (RUNS=30 by default)
work=${1:-/var/tmp/berth-bench-seccomp}
source "$(dirname "${BASH_SOURCE[0]}")/start.sh"

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
