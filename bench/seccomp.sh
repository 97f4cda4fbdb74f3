#!/usr/bin/env bash
# The default seccomp profile's cost, in one run:
#  1. `berth run --rm busybox true` with the default profile vs
#     `--security-opt seccomp=unconfined` (target: <= 1.05x);
#  2. the same vs `runc run` of the same bundle (berth's own config.json,
#     default profile included) — runc alone, no engine (target: <= 1.1x).
# Containers get no network (--bridge none) so only seccomp differs. The
# three take turns in a rotating order (bench/start.sh's in_turn).
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

with=(); without=(); plain_runc=()
default_profile() { timed with b run --rm busybox true; }
unconfined() { timed without b run --rm --security-opt seccomp=unconfined busybox true; }
runc_alone() { timed plain_runc runc --root "$work/runc" run -b "$work/bundle" "bench$i"; }
for i in $(seq "$runs"); do in_turn "$i" default_profile unconfined runc_alone; done
mw=$(median "${with[@]}"); mo=$(median "${without[@]}"); mr=$(median "${plain_runc[@]}")
echo "berth run --rm busybox true: default profile ${mw} ms, unconfined ${mo} ms: ratio $(ratio "$mw" "$mo") (target <= 1.05)"
echo "runc run of the same bundle with the same profile: ${mr} ms: berth/runc $(ratio "$mw" "$mr") (target <= 1.1)"
