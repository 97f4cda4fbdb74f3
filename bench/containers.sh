#!/usr/bin/env bash
# Container benchmarks (issue 5), every figure a ratio to a lower bound or a
# peer measured in the same run:
#   run:    `berth run --rm busybox true` (built-in runtime, and with --runtime runc)
#           vs `runc run` of a prepared bundle of the same rootfs (runc's default
#           spec: new pid, net, ipc, uts and mount namespaces; berth runs with
#           --network none to match), and vs `podman run --rm` (Debian's, runc,
#           overlay). Medians of hyperfine runs.
#   commit: `berth commit` of a container that wrote 10,000 small files
#           vs `tar -c` of its upper directory piped through `gzip -1`.
#   ps:     `berth ps -a` with 500 containers (target < 100 ms).
# Usage: bench/containers.sh [WORKDIR]   (root; hyperfine, runc, podman, busybox-static)
set -euo pipefail
source "$(dirname "$0")/scratch.sh" /var/tmp/berth-bench-containers "$@"
runs=${RUNS:-30}
podman_() {
  # Debian's podman asks runc for RLIMIT_NOFILE/NPROC above this host's hard
  # limits unless told otherwise; these keep it inside them.
  podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay \
    --events-backend none --runtime runc "$@"
}
cleanup() {
  for id in $(berth ps -aq 2>/dev/null); do berth rm -f "$id" >/dev/null 2>&1 || true; done
  podman_ rm -af >/dev/null 2>&1 || true
  umount "$work/podman/overlay" 2>/dev/null || true
}
trap cleanup EXIT

# The busybox rootfs, as an image for each tool and a bundle for runc.
rootfs=$work/bundle/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/"
for a in sh true seq mkdir echo; do ln -s busybox "$rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
tar -C "$rootfs" -cf "$work/busybox.tar" .
berth import "$work/busybox.tar" busybox >/dev/null 2>&1
podman_ import "$work/busybox.tar" localhost/busybox >/dev/null 2>&1
(cd "$work/bundle" && runc spec && python3 - <<'EOF'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["root"]["readonly"] = False
json.dump(c, open("config.json", "w"))
EOF
)

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join(str(x["median"]) for x in r))' "$1"; }

echo "== run --rm true ($runs runs each, medians)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  "$berth_bin --root $root --runroot $run run --rm --network none busybox true" \
  "$berth_bin --root $root --runroot $run run --rm --network none --runtime /usr/sbin/runc busybox true" \
  "runc --root $work/runc-state run --bundle $work/bundle bench-runc" \
  "podman --root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none --runtime runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/busybox true" \
  >/dev/null
read -r b_builtin b_runc runc_run podman_run < <(median "$work/run.json")
python3 - "$b_builtin" "$b_runc" "$runc_run" "$podman_run" <<'EOF'
import sys
b, br, r, p = map(float, sys.argv[1:])
print(f"berth run (built-in)  {b*1000:7.1f} ms   {b/r:5.2f}x runc run   podman is {p/b:5.1f}x slower")
print(f"berth run (runc)      {br*1000:7.1f} ms   {br/r:5.2f}x runc run   podman is {p/br:5.1f}x slower")
print(f"runc run (bundle)     {r*1000:7.1f} ms")
print(f"podman run --rm       {p*1000:7.1f} ms")
EOF

echo "== commit of 10,000 small files"
berth run --name writer busybox sh -c 'mkdir /data; cd /data; for i in $(seq 10000); do echo "file $i" > f$i; done' 
upper=$(berth inspect --format '{{.GraphDriver.Data.UpperDir}}' writer)
sync
hyperfine -N --warmup 1 --runs "${COMMIT_RUNS:-10}" --export-json "$work/commit.json" \
  "$berth_bin --root $root --runroot $run commit writer committed" \
  "sh -c 'tar -C $upper -cf - . | gzip -1 > /dev/null'" >/dev/null
read -r commit tar_gzip < <(median "$work/commit.json")
python3 - "$commit" "$tar_gzip" <<'EOF'
import sys
c, t = map(float, sys.argv[1:])
print(f"berth commit          {c*1000:7.1f} ms   {c/t:5.2f}x tar -c | gzip -1 ({t*1000:.1f} ms)")
EOF

echo "== ps -a with 500 containers"
existing=$(berth ps -aq | wc -l)
for _ in $(seq $((500 - existing))); do berth create busybox true >/dev/null; done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/ps.json" \
  "$berth_bin --root $root --runroot $run ps -a" >/dev/null
read -r ps < <(median "$work/ps.json")
python3 -c "import sys; print(f'berth ps -a (500)     {float(sys.argv[1])*1000:7.1f} ms   (target < 100 ms)')" "$ps"
