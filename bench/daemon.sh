#!/usr/bin/env bash
# Engine API benchmarks (issue 13): berth daemon against Debian's dockerd
# 20.10 (runc, overlay2, --bridge=none --iptables=false, its own data-root,
# exec-root and socket), both driven by the same docker CLI in the same run.
#   run:    `docker run --rm --network none busybox true` (target <= 0.3x dockerd)
#   list:   GET /containers/json?all=1 and GET /images/json, 16 concurrent
#           clients (curl --parallel), the same 100 containers and 100 images
#           on both sides: requests per second (target >= 5x dockerd). GET
#           /_ping's rate is the ceiling of curl on this machine: a list
#           that costs the daemon nothing cannot beat it.
#   ps/images: `docker ps -a` with 500 containers, `docker images` with 1,000
#           images, through berth (target <= 50 ms each), and the same
#           commands against replay_api.py, which answers with berth's
#           recorded responses and does no work: the CLI's own floor.
#   build:  a fully cached `docker build` (classic builder) of a
#           10-instruction Dockerfile with a 1,000-file context, through berth
#           (target < 200 ms) with both docker CLIs, through dockerd, and
#           against replay_api.py (the CLI's own floor: it reads and tars the
#           context). dockerd unpacks the context on this machine's disk,
#           berth in memory (a tmpfs) when it is under 64 MiB; settled (sync)
#           before the timed runs.
# Usage: bench/daemon.sh [WORKDIR]   (root; hyperfine, curl, docker.io, busybox-static)
set -euo pipefail
source "$(dirname "$0")/scratch.sh" /var/tmp/berth-bench-daemon "$@"
runs=${RUNS:-20}
requests=${REQUESTS:-5000}
dk=$work/dockerd
mkdir -p "$dk"
dockerd_pid=""
berth_pid=""
cleanup() {
  [ -n "$berth_pid" ] && kill "$berth_pid" 2>/dev/null || true
  for id in $(berth ps -aq 2>/dev/null); do berth rm -f "$id" >/dev/null 2>&1 || true; done
  if [ -n "$dockerd_pid" ]; then
    docker -H "unix://$dk/docker.sock" rm -f $(docker -H "unix://$dk/docker.sock" ps -aq) >/dev/null 2>&1 || true
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  umount "$dk/data/overlay2" 2>/dev/null || true
}
trap cleanup EXIT

wait_for() { for _ in $(seq 100); do [ -S "$1" ] && curl -sf --unix-socket "$1" http://d/_ping >/dev/null && return; sleep 0.1; done; echo "no daemon at $1" >&2; exit 1; }

"$berth_bin" --root "$root" --runroot "$run" daemon -H "unix://$work/berth.sock" 2>"$work/berth.log" &
berth_pid=$!
dockerd --data-root "$dk/data" --exec-root "$dk/exec" -H "unix://$dk/docker.sock" \
  --pidfile "$dk/docker.pid" --bridge=none --iptables=false --ip6tables=false \
  >"$dk/log" 2>&1 &
dockerd_pid=$!
wait_for "$work/berth.sock"
wait_for "$dk/docker.sock"
B=(docker -H "unix://$work/berth.sock")
D=(docker -H "unix://$dk/docker.sock")

# The busybox rootfs as an image on both sides.
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/"
for a in sh true cat echo; do ln -s busybox "$rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
tar -C "$rootfs" -cf "$work/busybox.tar" .
"${B[@]}" import "$work/busybox.tar" busybox >/dev/null 2>&1
"${D[@]}" import "$work/busybox.tar" busybox >/dev/null 2>&1

echo "== docker run --rm --network none busybox true ($runs runs each, medians)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  "${B[*]} run --rm --network none busybox true" \
  "${D[*]} run --rm --network none busybox true" > /dev/null
python3 - "$work/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
berth, docker = r[0]["median"], r[1]["median"]
print(f"through berth  {berth*1000:7.1f} ms")
print(f"through dockerd {docker*1000:6.1f} ms   berth / dockerd = {berth/docker:.2f} (target <= 0.3)")
PY

echo "== 16 concurrent clients, $requests requests, 100 containers and 100 images on each side"
mkdir -p "$work/tiny"
echo x > "$work/tiny/f"
tar -C "$work/tiny" -cf "$work/tiny.tar" .
for i in $(seq 100); do
  "${B[@]}" create busybox true >/dev/null
  "${D[@]}" create --network none busybox true >/dev/null
done
for i in $(seq 99); do
  "${B[@]}" import -c "LABEL n=$i" "$work/tiny.tar" "many/img$i:v1" >/dev/null
  "${D[@]}" import -c "LABEL n=$i" "$work/tiny.tar" "many/img$i:v1" >/dev/null
done
rate() {  # rate SOCKET PATH -> requests per second
  local t0 t1
  t0=$(date +%s.%N)
  curl -s -Z --parallel-max 16 --unix-socket "$1" "http://d$2&n=[1-$requests]" -o /dev/null 2>/dev/null
  t1=$(date +%s.%N)
  echo "$requests / ($t1 - $t0)" | bc -l
}
for path in "/_ping?x=1" "/v1.41/containers/json?all=1" "/v1.41/images/json?x=1"; do
  b=$(rate "$work/berth.sock" "$path")
  d=$(rate "$dk/docker.sock" "$path")
  target=$([ "${path%%\?*}" = /_ping ] && echo "curl's ceiling" || echo "target >= 5x")
  printf '%-30s berth %7.0f req/s  dockerd %7.0f req/s  ratio %.1fx (%s)\n' "${path%%\?*}" "$b" "$d" "$(echo "$b / $d" | bc -l)" "$target"
done

echo "== docker ps -a (500 containers) and docker images (1,000 images) through berth"
for i in $(seq 400); do "$berth_bin" --root "$root" --runroot "$run" create busybox true >/dev/null; done
for i in $(seq 100 999); do
  "$berth_bin" --root "$root" --runroot "$run" import -c "LABEL n=$i" "$work/tiny.tar" "many/img$i:v1" >/dev/null 2>&1
done
python3 "$(dirname "$0")/replay_api.py" "$work/replay.sock" "$work/berth.sock" &
replay_pid=$!
wait_for "$work/replay.sock"
R=(docker -H "unix://$work/replay.sock")
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/list.json" \
  "${B[*]} ps -a" "${B[*]} images" "${R[*]} ps -a" "${R[*]} images" > /dev/null
kill "$replay_pid"
python3 - "$work/list.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
for name, through, floor in zip(["docker ps -a (500)", "docker images (1,000)"], r[:2], r[2:]):
    print(f"{name:24} {through['median']*1000:6.1f} ms (target <= 50 ms); the CLI alone (replayed answers) {floor['median']*1000:6.1f} ms")
PY

echo "== fully cached docker build through berth"
ctx=$work/ctx
mkdir -p "$ctx/files"
for i in $(seq 1000); do echo "file $i" > "$ctx/files/f$i"; done
cat > "$ctx/Dockerfile" <<'DF'
FROM busybox
ENV A=1
ARG B=2
RUN echo one > /one
COPY files /files
RUN cat /one > /two
WORKDIR /work
LABEL l=1
EXPOSE 80
CMD ["cat", "/two"]
DF
DOCKER_BUILDKIT=0 "${B[@]}" build -q -t cached "$ctx" >/dev/null 2>&1
DOCKER_BUILDKIT=0 "${D[@]}" build -q -t cached "$ctx" >/dev/null 2>&1
sync; sleep 5
python3 "$(dirname "$0")/replay_api.py" "$work/replay.sock" "$work/berth.sock" &
replay_pid=$!
wait_for "$work/replay.sock"
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/build.json" \
  "env DOCKER_BUILDKIT=0 ${B[*]} build -q -t cached $ctx" \
  "env DOCKER_BUILDKIT=0 /usr/bin/docker -H unix://$work/berth.sock build -q -t cached $ctx" \
  "env DOCKER_BUILDKIT=0 ${D[*]} build -q -t cached $ctx" \
  "env DOCKER_BUILDKIT=0 ${R[*]} build -q -t cached $ctx" > /dev/null
kill "$replay_pid"
python3 - "$work/build.json" <<'PY'
import json, sys
r = [x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]]
print(f"docker build (cached) through berth {r[0]:6.1f} ms with docker 28, {r[1]:6.1f} ms with docker 20.10 (target < 200 ms)")
print(f"  through dockerd {r[2]:6.1f} ms; the docker 28 CLI alone (replayed answer) {r[3]:6.1f} ms")
PY
