#!/usr/bin/env bash
# Registry server benchmarks (issue 4): `berth registry serve` against Debian's
# docker-registry (the reference registry), both on the same fresh ext4, in
# the same run, alternating which goes first:
#   start:    launch until /v2/ answers
#   blob GET: one 512 MiB blob, 1 stream and 8 parallel streams (curl > /dev/null);
#             lower bound: cat of the same bytes from the page cache
#   manifest: GET by tag with wrk, 64 connections: requests/s and p99 latency
#   push:     skopeo copy of the ~800 MB five-layer test image (already
#             compressed, from an OCI layout) into an empty registry
# Usage: bench/registry-server.sh [WORKDIR]   (root; curl, wrk, skopeo,
#        docker-registry, python3; release build). RUNS=3 DURATION=10.
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs=${RUNS:-3}
duration=${DURATION:-10}

mnt="$work/regsrv-runs"
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
cleanup() { stop_all; unmount_scratch "$mnt" "$work/regsrv-fs.img"; }
trap cleanup EXIT
mount_scratch "$mnt" "$work/regsrv-fs.img" 40G

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 400); do curl -sf "http://$1/v2/" >/dev/null && return; sleep 0.005; done; echo "no registry on $1" >&2; exit 1; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.3f}')" "$@"; }

# start_server KIND DIR ADDR: starts docker-registry or berth on ADDR storing in DIR.
start_server() {
  mkdir -p "$2"
  if [ "$1" = docker ]; then
    cat > "$2.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $2}, delete: {enabled: true}}
http: {addr: $3}
EOF
    docker-registry serve "$2.yml" >/dev/null 2>&1 &
  else
    "$berth" registry serve --root "$2" --addr "$3" >/dev/null 2>&1 &
  fi
  pids+=($!)
  wait_up "$3"
}

# The image, compressed once into an OCI layout so that pushes measure upload, not gzip.
if [ ! -f "$work/oci-img/index.json" ]; then
  skopeo copy -q "docker-archive:$work/image.tar" "oci:$work/oci-img:img" >/dev/null
fi
if [ ! -f "$work/blob512" ]; then
  head -c $((512 << 20)) /dev/urandom > "$work/blob512"
fi
blob_digest=sha256:$(sha256sum "$work/blob512" | cut -d' ' -f1)

# upload_blob ADDR FILE DIGEST: POST, one PATCH, PUT (docker-registry has no monolithic POST).
location_of() { tr -d '\r' | awk 'tolower($1)=="location:"{print $2}'; }
absolute() { case "$2" in /*) echo "http://$1$2" ;; *) echo "$2" ;; esac; }
upload_blob() {
  local loc
  loc=$(absolute "$1" "$(curl -sf -D - -o /dev/null -X POST "http://$1/v2/bench/blob/blobs/uploads/" | location_of)")
  loc=$(absolute "$1" "$(curl -sf -D - -o /dev/null -X PATCH --data-binary "@$2" -H 'Content-Type: application/octet-stream' "$loc" | location_of)")
  case "$loc" in *\?*) loc="$loc&digest=$3" ;; *) loc="$loc?digest=$3" ;; esac
  curl -sf -o /dev/null -X PUT "$loc"
}

docker_addr=127.0.0.1:$(free_port)
berth_addr=127.0.0.1:$(free_port)

# --- start-up time
starts_docker=(); starts_berth=()
for r in $(seq "$runs"); do
  for kind in docker berth; do
    addr=$docker_addr; [ $kind = berth ] && addr=$berth_addr
    t0=$(now); start_server $kind "$mnt/start-$kind-$r" "$addr"; t1=$(now)
    stop_all
    t=$(python3 -c "print($t1-$t0)")
    if [ $kind = docker ]; then starts_docker+=("$t"); else starts_berth+=("$t"); fi
  done
done
echo "start-up until /v2/ answers: berth $(median "${starts_berth[@]}") s, docker-registry $(median "${starts_docker[@]}") s"

# --- serving: both up, each with the blob and the image
start_server docker "$mnt/serve-docker" "$docker_addr"
start_server berth "$mnt/serve-berth" "$berth_addr"
for addr in $docker_addr $berth_addr; do
  upload_blob "$addr" "$work/blob512" "$blob_digest"
  skopeo copy -q --dest-tls-verify=false "oci:$work/oci-img:img" "docker://$addr/bench/img:1" >/dev/null
done
accept='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
for addr in $docker_addr $berth_addr; do # warm the page cache
  curl -sf -o /dev/null "http://$addr/v2/bench/blob/blobs/$blob_digest"
done

get1() { t0=$(now); curl -sf -o /dev/null "http://$1/v2/bench/blob/blobs/$blob_digest"; t1=$(now); python3 -c "print(512/($t1-$t0))"; }
get8() { t0=$(now); seq 8 | xargs -P8 -I{} curl -sf -o /dev/null "http://$1/v2/bench/blob/blobs/$blob_digest"; t1=$(now); python3 -c "print(8*512/($t1-$t0))"; }
cat1() { t0=$(now); cat "$work/blob512" > /dev/null; t1=$(now); python3 -c "print(512/($t1-$t0))"; }
d1=(); b1=(); d8=(); b8=(); c1=()
for r in $(seq "$runs"); do
  c1+=("$(cat1)")
  if [ $((r % 2)) = 1 ]; then d1+=("$(get1 $docker_addr)"); b1+=("$(get1 $berth_addr)"); d8+=("$(get8 $docker_addr)"); b8+=("$(get8 $berth_addr)")
  else b1+=("$(get1 $berth_addr)"); d1+=("$(get1 $docker_addr)"); b8+=("$(get8 $berth_addr)"); d8+=("$(get8 $docker_addr)"); fi
done
echo "blob GET 512 MiB, 1 stream: berth $(median "${b1[@]}") MiB/s, docker-registry $(median "${d1[@]}") MiB/s = $(ratio "$(median "${b1[@]}")" "$(median "${d1[@]}")")x (cat from page cache: $(median "${c1[@]}") MiB/s)"
echo "blob GET 512 MiB, 8 streams: berth $(median "${b8[@]}") MiB/s, docker-registry $(median "${d8[@]}") MiB/s = $(ratio "$(median "${b8[@]}")" "$(median "${d8[@]}")")x"

# wrk prints latency with units; p99 in ms.
wrk_run() { wrk -t2 -c64 -d"${duration}s" --latency -H "Accept: $accept" "http://$1/v2/bench/img/manifests/1"; }
wrk_rps() { awk '/^Requests\/sec/{print $2}'; }
wrk_p99() { awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}'; }
dr=(); br=(); dp=(); bp=()
for r in $(seq "$runs"); do
  for kind in docker berth; do
    [ $((r % 2)) = 0 ] && kind=$([ $kind = docker ] && echo berth || echo docker)
    addr=$docker_addr; [ $kind = berth ] && addr=$berth_addr
    out=$(wrk_run "$addr")
    if [ $kind = docker ]; then dr+=("$(echo "$out" | wrk_rps)"); dp+=("$(echo "$out" | wrk_p99)")
    else br+=("$(echo "$out" | wrk_rps)"); bp+=("$(echo "$out" | wrk_p99)"); fi
  done
done
echo "manifest GET by tag, 64 connections: berth $(median "${br[@]}") req/s (p99 $(median "${bp[@]}") ms), docker-registry $(median "${dr[@]}") req/s (p99 $(median "${dp[@]}") ms) = $(ratio "$(median "${br[@]}")" "$(median "${dr[@]}")")x"
stop_all

# --- push into an empty registry
pd=(); pb=()
for r in $(seq "$runs"); do
  for kind in docker berth; do
    [ $((r % 2)) = 0 ] && kind=$([ $kind = docker ] && echo berth || echo docker)
    addr=$docker_addr; [ $kind = berth ] && addr=$berth_addr
    start_server $kind "$mnt/push-$kind-$r" "$addr"
    sync; sleep 2
    t0=$(now)
    skopeo copy -q --dest-tls-verify=false "oci:$work/oci-img:img" "docker://$addr/bench/img:1" >/dev/null
    t1=$(now)
    stop_all
    rm -rf "$mnt/push-$kind-$r" "$mnt/push-$kind-$r.yml"
    t=$(python3 -c "print($t1-$t0)")
    if [ $kind = docker ]; then pd+=("$t"); else pb+=("$t"); fi
  done
done
echo "skopeo push of the ~800 MB image: berth $(median "${pb[@]}") s, docker-registry $(median "${pd[@]}") s = $(ratio "$(median "${pb[@]}")" "$(median "${pd[@]}")")x the time"
