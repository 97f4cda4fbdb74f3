#!/usr/bin/env bash
# Build benchmarks (issue 6), in one run:
#   cached: a fully cached rebuild of a 10-instruction Dockerfile whose context
#           holds 1,000 files (target < 150 ms wall; hyperfine median).
#   cold:   the same build with --no-cache vs Debian's `buildah bud` (runc,
#           overlay) of the same Dockerfile and context, base image present
#           for both (target <= 1.2x). `buildah bud --layers` (a layer per
#           step, as berth and docker make) is shown too.
# Usage: bench/build.sh [WORKDIR]   (root; hyperfine, buildah, podman, busybox-static)
set -euo pipefail
source "$(dirname "$0")/scratch.sh" /var/tmp/berth-bench-build "$@"
runs=${RUNS:-10}
storage=(--root "$work/containers" --runroot "$work/containers-run" --storage-driver overlay)
cleanup() {
  for id in $(berth ps -aq 2>/dev/null); do berth rm -f "$id" >/dev/null 2>&1 || true; done
  buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
  umount "$work/containers/overlay" 2>/dev/null || true
}
trap cleanup EXIT

# The busybox base, for berth and for buildah.
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/"
for a in sh find wc echo cat ls; do ln -s busybox "$rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
tar -C "$rootfs" -cf "$work/busybox.tar" .
berth import "$work/busybox.tar" busybox >/dev/null
podman "${storage[@]}" import "$work/busybox.tar" localhost/busybox >/dev/null 2>&1

# The context: 1,000 files and a 10-instruction Dockerfile.
ctx=$work/ctx
mkdir -p "$ctx/files"
for i in $(seq 1000); do echo "file $i" > "$ctx/files/f$i"; done
echo extra > "$ctx/extra.txt"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM localhost/busybox
ENV APP=/app
WORKDIR /app
COPY files/ /app/files/
RUN find /app/files -type f | wc -l > /count
RUN echo built > /built
COPY extra.txt /app/
LABEL bench=yes
EXPOSE 8080
CMD ["sh"]
DOCKERFILE
berth tag busybox localhost/busybox
berth build -q -t bench "$ctx" >/dev/null

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join(str(x["median"]) for x in r))' "$1"; }

echo "== cached rebuild ($runs runs, median)"
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/cached.json" \
  "$berth_bin --root $root --runroot $run build -q -t bench $ctx" >/dev/null
read -r cached < <(median "$work/cached.json")
python3 -c "import sys; print(f'berth build (all cached)  {float(sys.argv[1])*1000:7.1f} ms   (target < 150 ms)')" "$cached"

echo "== cold build ($runs runs each, medians)"
buildah_bud="buildah ${storage[*]} bud --isolation oci --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -q -t bench-buildah $ctx"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/cold.json" \
  "$berth_bin --root $root --runroot $run build -q --no-cache -t bench $ctx" \
  "$buildah_bud" \
  "${buildah_bud/ bud / bud --layers --no-cache }" >/dev/null
read -r b_cold buildah_cold buildah_layers < <(median "$work/cold.json")
python3 - "$b_cold" "$buildah_cold" "$buildah_layers" <<'PY'
import sys
b, bu, bl = map(float, sys.argv[1:])
print(f"berth build --no-cache    {b*1000:7.1f} ms   {b/bu:5.2f}x buildah bud   {b/bl:5.2f}x buildah bud --layers")
print(f"buildah bud               {bu*1000:7.1f} ms")
print(f"buildah bud --layers      {bl*1000:7.1f} ms")
PY
