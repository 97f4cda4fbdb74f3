#!/usr/bin/env bash
# Store benchmarks (issue 2), each as a ratio to a lower bound measured in the
# same run on the same files, warm page cache for both sides:
#   load:   berth load of the ~800 MB five-layer docker-archive
#           vs the sequential lower bound: openssl dgst -sha256, then tar -x, of each layer
#           (and vs that lower bound followed by sync, as berth's blobs are fsynced)
#   save:   berth save -o of that image vs cp of its layer blobs
#   images: berth images with 1,000 images, and berth inspect of one (absolute, target < 30 ms)
# Usage: bench/store.sh [WORKDIR]   (needs root, python3, openssl, hyperfine; release build)
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs=${RUNS:-5}
du -sh "$work/image.tar" "$work"/layers/*.tar | sed 's/^/  /' >&2

# ext4 skips inodes freed in the last seconds when it allocates new ones, which
# makes file creation several times slower right after a big rm -rf. So no run
# deletes anything: each writes to a fresh directory, and every timed run starts
# after sync and a pause, with no dirty pages pending.
settle() { sync; sleep 6; }
# Both sides run on a fresh ext4 made for this benchmark (a loop device), so the
# host filesystem's history does not decide the figures.
mkdir -p "$work/runs"
trap 'unmount_scratch "$work/runs" "$work/fs.img"' EXIT
mount_scratch "$work/runs" "$work/fs.img" 40G
cat "$work/image.tar" "$work"/layers/*.tar > /dev/null   # warm the page cache for both sides

# Lower bound: hash then untar each layer, one after the other. The two sides
# alternate run by run so that each pair meets the same filesystem state.
lower=(); durable=(); loads=()
for r in $(seq "$runs"); do
  lb="$work/runs/lower-$r" && mkdir -p "$lb"
  settle
  t0=$(now)
  for l in "$work"/layers/*.tar; do
    openssl dgst -sha256 "$l" > /dev/null
    d="$lb/$(basename "$l" .tar)" && mkdir -p "$d" && tar -xf "$l" -C "$d"
  done
  t1=$(now)
  sync
  t2=$(now)
  lower+=("$(echo "$t1 - $t0" | bc)")
  durable+=("$(echo "$t2 - $t0" | bc)")

  root="$work/runs/berth-$r"
  settle
  t0=$(now)
  "$berth" --root "$root" --runroot "$work/runs/run" load -q -i "$work/image.tar" > /dev/null
  t1=$(now)
  loads+=("$(echo "$t1 - $t0" | bc)")
done

# Each pair ran back to back on the same filesystem state: report the median
# of the pairs' ratios, and every pair.
report() { # name, berth times, lower-bound times, lower-bound label
  python3 - "$@" <<'PY'
import statistics, sys
name, ours, base, label = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
ratios = [float(a) / float(b) for a, b in zip(ours, base)]
pairs = "  ".join(f"{float(a):.2f}/{float(b):.2f}={r:.2f}" for a, b, r in zip(ours, base, ratios))
print(f"{name}: median ratio {statistics.median(ratios):.2f} (berth / {label})  pairs: {pairs}")
PY
}
report "load" "${loads[*]}" "${lower[*]}" "sha256 + tar -x of each layer, sequential"
# berth makes its blobs durable (fsync) before recording an image; tar -x never
# waits for the disk. The same lower bound followed by sync shows that cost.
report "load" "${loads[*]}" "${durable[*]}" "the same, then sync"

# save vs a plain copy of the layer blobs.
blobs=$(python3 - "$root" <<'PY'
import json, os, sys
root = sys.argv[1]
import sqlite3
db = sqlite3.connect(f"{root}/berth.db")
(manifest,) = db.execute("select manifest from images").fetchone()
m = json.load(open(f"{root}/blobs/sha256/{manifest.split(':')[1]}"))
print(" ".join(f"{root}/blobs/sha256/{l['digest'].split(':')[1]}" for l in m["layers"]))
PY
)
saves=(); copies=()
for r in $(seq "$runs"); do
  mkdir -p "$work/runs/copy-$r"
  settle
  t0=$(now); cp $blobs "$work/runs/copy-$r/"; t1=$(now)
  copies+=("$(echo "$t1 - $t0" | bc)")
  settle
  t0=$(now); "$berth" --root "$root" --runroot "$work/runs/run" save -q -o "$work/runs/saved-$r.tar" bench:1; t1=$(now)
  saves+=("$(echo "$t1 - $t0" | bc)")
done
report "save" "${saves[*]}" "${copies[*]}" "cp of the layer blobs"

# 1,000 images: list and inspect.
"$berth" --root "$work/runs/many-root" --runroot "$work/runs/run" load -q -i "$work/many.tar" > /dev/null
n=$("$berth" --root "$work/runs/many-root" images -q | wc -l)
hyperfine -N --warmup 3 --runs 30 --export-json "$work/hf.json" \
  "$berth --root $work/runs/many-root images" \
  "$berth --root $work/runs/many-root inspect many/img500:v1" > /dev/null
python3 - "$work/hf.json" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
for name, res in zip(["images (%s images)" % sys.argv[2], "inspect of one"], r):
    print(f"{name}: mean {res['mean']*1000:.1f} ms, min {res['min']*1000:.1f} ms, max {res['max']*1000:.1f} ms (target < 30 ms)")
PY
