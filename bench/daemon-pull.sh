#!/usr/bin/env bash
# `docker pull` through berth (issue 13): the ~800 MB five-layer test image
# of bench/store.sh from Debian's docker-registry on loopback, cold, into an
# empty store each time, alternating in one run:
#   berth pull                       (the CLI)
#   docker pull through berth daemon (target <= 1.1x berth pull)
#   docker pull through dockerd 20.10 (overlay2, --bridge=none --iptables=false;
#                                     target: berth daemon <= 0.5x dockerd)
# Unpacking creates ~30,000 files, so each figure is taken on a fresh
# loop-mounted ext4 and on this machine's own disk (WORKDIR, /var/tmp by
# default), as the other benchmarks do.
# Usage: bench/daemon-pull.sh [WORKDIR]   (root; python3, curl, docker.io,
#        docker-registry; release build)
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs=${RUNS:-3}

settle() { sync; sleep 3; }
loop="$work/dpull-loop"
disk="$work/dpull-disk"
regdir="$work/dpull-registry"
regpid=""
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [ -n "$regpid" ] && kill "$regpid" 2>/dev/null || true
  unmount_scratch "$loop" "$work/dpull-fs.img"
  rm -rf "$disk" "$regdir"
}
trap cleanup EXIT
rm -rf "$disk" "$regdir"
mkdir -p "$disk" "$regdir"
mount_scratch "$loop" "$work/dpull-fs.img" 60G

reg=$(free_loopback_addr)
start_docker_registry "$regdir/data" "$reg" "$regdir/registry.yml"
regpid=$docker_registry_pid
image=$reg/bench/img:1
seed=$regdir/seed
"$berth" --root "$seed" --runroot "$seed-run" load -q -i "$work/image.tar" >/dev/null
"$berth" --root "$seed" --runroot "$seed-run" tag bench:1 "$image"
"$berth" --root "$seed" --runroot "$seed-run" push -q "$image" >/dev/null

wait_socket() { for _ in $(seq 200); do curl -sf --unix-socket "$1" http://d/_ping >/dev/null && return; sleep 0.1; done; echo "no daemon at $1" >&2; exit 1; }
stop_daemon() { kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""; }
seconds() { local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc; }

for place in "$loop" "$disk"; do
  cli=(); api=(); dk=()
  for r in $(seq "$runs"); do
    settle
    cli+=("$(seconds "$berth" --root "$place/cli-$r" --runroot "$place/cli-run-$r" pull -q "$image")")

    "$berth" --root "$place/api-$r" --runroot "$place/api-run-$r" daemon -H "unix://$place/api-$r.sock" 2>/dev/null &
    daemon_pid=$!
    wait_socket "$place/api-$r.sock"
    settle
    api+=("$(seconds docker -H "unix://$place/api-$r.sock" pull -q "$image")")
    stop_daemon

    dockerd --data-root "$place/dk-$r" --exec-root "/run/berth-bench-dk-$r" -H "unix://$place/dk-$r.sock" \
      --pidfile "$place/dk-$r.pid" --bridge=none --iptables=false --ip6tables=false >"$place/dk-$r.log" 2>&1 &
    daemon_pid=$!
    wait_socket "$place/dk-$r.sock"
    settle
    dk+=("$(seconds docker -H "unix://$place/dk-$r.sock" pull -q "$image")")
    stop_daemon
    umount "$place/dk-$r/overlay2" 2>/dev/null || true
  done
  where=$([ "$place" = "$loop" ] && echo "fresh loop ext4" || echo "this machine's disk")
  a=(); d=()
  for i in "${!cli[@]}"; do
    a+=("$(ratio "${api[$i]}" "${cli[$i]}")")
    d+=("$(ratio "${api[$i]}" "${dk[$i]}")")
  done
  echo "== $where ($runs runs, seconds: berth pull ${cli[*]} | docker via berth ${api[*]} | docker via dockerd ${dk[*]})"
  echo "docker pull through berth / berth pull:  median $(median "${a[@]}") (target <= 1.1)"
  echo "docker pull through berth / through dockerd: median $(median "${d[@]}") (target <= 0.5)"
done
