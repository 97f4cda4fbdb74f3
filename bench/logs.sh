#!/usr/bin/env bash
# `berth logs` on a 1 GB json-file log: --tail (read backwards from the end),
# --since (bisection by time), --until (stops at the first later entry), and
# a full read for scale. The log is written by a container (`--log-opt
# max-size=2g`, so nothing rotates), ~11 million lines.
# Usage: bench/logs.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-/var/tmp/berth-bench-logs}
cargo build --release --quiet
rm -rf "$work" && mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh yes head; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
b() { "$PWD/target/release/berth" --root "$work/root" --runroot "$work/run" --bridge none "$@"; }
b import -c 'CMD ["sh"]' "$work/rootfs.tar" busybox >/dev/null
id=$(b run -d --log-opt max-size=2g busybox sh -c 'yes "a line of container output, about eighty bytes long once json wraps it" | head -n 11000000')
b wait "$id" >/dev/null
log=$(b inspect -f '{{.LogPath}}' "$id")
echo "log: $(du -h "$log" | cut -f1), $(wc -l < "$log") lines"
mid=$(sed -n '5500000p' "$log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["time"])')
t() { local s; s=$(date +%s.%N); "$@" > /dev/null; python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.1f} ms')" "$s" "$(date +%s.%N)"; }
echo "logs --tail 10:            $(t b logs --tail 10 "$id")"
echo "logs --since <middle> --tail 10: $(t b logs --since "$mid" --tail 10 "$id")"
echo "logs --until <1st line + 1s> : $(t b logs --until "$(head -1 "$log" | python3 -c 'import json,sys,datetime; t=json.load(sys.stdin)["time"]; print(t)')" "$id")"
echo "logs (all 11M lines):      $(t b logs "$id")"
b rm -f "$id" >/dev/null
