#!/usr/bin/env bash
# Container networking, in a network namespace of the benchmark's own (no
# packet leaves it; its loopback and bridges play the host's):
#  1. `berth run --rm busybox true` on the default bridge vs --network none
#     (target: <= 1.5x; the difference is bridge setup + teardown);
#  2. a 1 GiB TCP transfer (iperf3) through a published port on the host's
#     127.0.0.1 vs straight to the container's address (target: >= 0.9x);
#  3. 100 containers on one user-defined network, every one resolving
#     another's name; name lookup latency from inside a container's network
#     namespace to berth's DNS (target: median < 1 ms).
# Usage: bench/network.sh [WORKDIR]   (RUNS=20 by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-/var/tmp/berth-bench-net}
runs=${RUNS:-20}
cargo build --release --quiet
rm -rf "$work" && mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep nslookup; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
touch "$work/netns"
unshare --net="$work/netns" ip link set lo up
ns() { nsenter --net="$work/netns" -- "$@"; }
b() { ns "$PWD/target/release/berth" --root "$work/root" --runroot "$work/run" "$@"; }
cleanup() {
  b rm -f $(b ps -aq) >/dev/null 2>&1 || true
  # The DNS server ends with the last user-defined network (or its runroot).
  b network prune -f >/dev/null 2>&1 || true
  pkill -f "$work/run" 2>/dev/null || true
  rm -rf "$work/run"
  umount "$work/netns" 2>/dev/null || true
}
trap cleanup EXIT
b import -c 'CMD ["sh"]' "$work/rootfs.tar" busybox >/dev/null
b run --rm busybox true   # the bridge and the table exist from here on

median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
ms() { python3 -c "import sys,time; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.2f}')" "$1" "$2"; }

echo "== run --rm busybox true: default bridge vs --network none ($runs runs each, interleaved)"
bridge=(); none=()
for _ in $(seq "$runs"); do
  t0=$(date +%s.%N); b run --rm busybox true; t1=$(date +%s.%N)
  b run --rm --network none busybox true; t2=$(date +%s.%N)
  bridge+=("$(ms "$t0" "$t1")"); none+=("$(ms "$t1" "$t2")")
done
mb=$(median "${bridge[@]}"); mn=$(median "${none[@]}")
echo "bridge ${mb} ms, none ${mn} ms: ratio $(ratio "$mb" "$mn") (target <= 1.5), bridge cost $(python3 -c "print(f'{$mb-$mn:.2f}')") ms"

echo "== 1 GiB through a published port (127.0.0.1:8080 -> container:5201) vs straight to the container"
id=$(b run -d -p 8080:5201 busybox sleep 600)
pid=$(b inspect -f '{{.State.Pid}}' "$id")
ip=$(b inspect -f '{{.NetworkSettings.IPAddress}}' "$id")
# iperf3's server in the container's network namespace (the image has none).
nsenter -t "$pid" -n iperf3 -s -p 5201 >/dev/null 2>&1 &
srv=$!
sleep 0.5
rate() { ns iperf3 -c "$1" -p "$2" -n 1G -J | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.2f" % (r["end"]["sum_received"]["bits_per_second"]/1e9))'; }
published=(); direct=()
for _ in 1 2 3; do
  published+=("$(rate 127.0.0.1 8080)"); direct+=("$(rate "$ip" 5201)")
done
mp=$(median "${published[@]}"); md=$(median "${direct[@]}")
echo "published ${mp} Gbit/s, direct ${md} Gbit/s: ratio $(ratio "$mp" "$md") (target >= 0.9)"
kill "$srv" 2>/dev/null || true
b rm -f "$id" >/dev/null

echo "== 100 containers on one network, resolving each other's names"
b network create bench >/dev/null
t0=$(date +%s.%N)
for i in $(seq 100); do b run -d --name "c$i" --network bench busybox sleep 600 >/dev/null; done
t1=$(date +%s.%N)
echo "100 starts: $(ms "$t0" "$t1") ms"
failed=0
for i in $(seq 100); do
  j=$(( (i % 100) + 1 ))
  b exec "c$i" nslookup "c$j" >/dev/null 2>&1 || failed=$((failed+1))
done
echo "names not resolved: $failed of 100"
pid=$(b inspect -f '{{.State.Pid}}' c1)
gw=$(b network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' bench)
nsenter -t "$pid" -n python3 - "$gw" <<'PY'
import socket, statistics, sys, time
gw = sys.argv[1]
def query(name, qid):
    q = qid.to_bytes(2, "big") + bytes.fromhex("01000001000000000000")
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + bytes.fromhex("0000010001")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
lat = []
for i in range(2000):
    q = query(f"c{i % 100 + 1}", i)
    t = time.perf_counter()
    s.sendto(q, (gw, 53))
    a = s.recv(512)
    lat.append((time.perf_counter() - t) * 1000)
    assert a[:2] == q[:2] and a[7] == 1, "no answer"
print(f"name lookup from a container: median {statistics.median(lat):.3f} ms, p99 {sorted(lat)[int(len(lat)*0.99)]:.3f} ms (target median < 1 ms)")
PY
