#!/usr/bin/env bash
# Registry benchmarks (issue 3), with the ~800 MB five-layer test image of
# bench/store.sh in Debian's docker-registry on loopback; every figure is a
# ratio to a lower bound (or a peer) measured in the same run, alternating:
#   push: cold `berth push` to an empty registry
#         vs the largest layer alone: gzip -1 | curl streaming upload
#   pull: cold `berth pull` into an empty store
#         vs the slowest single layer: curl | gzip -d | tar -x (layers in parallel)
#         and vs `skopeo copy docker://… containers-storage:` and `podman pull`
#   warm: `berth pull` with every layer present, a repeated `berth push` (< 100 ms)
# Usage: bench/registry.sh [WORKDIR]   (root; python3, curl, hyperfine, skopeo,
#        podman, docker-registry; release build)
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs=${RUNS:-3}

settle() { sync; sleep 3; }
mnt="$work/reg-runs"
mkdir -p "$mnt"
regpid=
stop_registry() { if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null || true; wait "$regpid" 2>/dev/null || true; regpid=; fi; }
cleanup() { stop_registry; unmount_scratch "$mnt" "$work/reg-fs.img"; }
trap cleanup EXIT
# A fresh ext4 for everything written, as in bench/store.sh.
mount_scratch "$mnt" "$work/reg-fs.img" 60G

reg=$(free_loopback_addr)
start_registry() { start_docker_registry "$1" "$reg" "$mnt/registry.yml"; regpid=$docker_registry_pid; }

# The layers, largest first, for the lower bounds.
largest=$(ls -S "$work"/layers/*.tar | head -1)


pushes=(); push_lbs=(); push_ratios=()
for r in $(seq "$runs"); do
  stop_registry
  start_registry "$mnt/registry-$r"
  # Lower bound: the largest layer alone, compressed and streamed up as it is
  # compressed (POST, one streaming PATCH, PUT with the digest).
  settle
  t0=$(now)
  loc=$(curl -sf -D - -o /dev/null -X POST "http://$reg/v2/lb/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  gzip -1 -c "$largest" | tee >(sha256sum | cut -d' ' -f1 > "$mnt/lb.sha") \
    | curl -sf -D "$mnt/lb.hdr" -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' -T - "$loc"
  while [ ! -s "$mnt/lb.sha" ]; do sleep 0.01; done
  loc=$(tr -d '\r' < "$mnt/lb.hdr" | awk 'tolower($1)=="location:"{print $2}')
  case $loc in http*) ;; *) loc="http://$reg$loc";; esac
  curl -sf -o /dev/null -X PUT "$loc&digest=sha256:$(cat "$mnt/lb.sha")"
  t1=$(now)
  rm -f "$mnt/lb.sha"
  push_lbs+=("$(echo "$t1 - $t0" | bc)")

  # berth: a fresh store with the image loaded (untimed), pushed to the empty repo.
  root="$mnt/push-root-$r"
  "$berth" --root "$root" --runroot "$mnt/run" load -q -i "$work/image.tar" >/dev/null
  "$berth" --root "$root" --runroot "$mnt/run" tag bench:1 "$reg/bench/img:1"
  settle
  t0=$(now)
  "$berth" --root "$root" --runroot "$mnt/run" push -q "$reg/bench/img:1" >/dev/null
  t1=$(now)
  pushes+=("$(echo "$t1 - $t0" | bc)")
  push_ratios+=("$(ratio "${pushes[-1]}" "${push_lbs[-1]}")")
done
echo "push: median ratio $(median "${push_ratios[@]}") (berth push / gzip -1 | curl of the largest layer)  pairs: $(paste -d/ <(printf '%s\n' "${pushes[@]}") <(printf '%s\n' "${push_lbs[@]}") | tr '\n' ' ')"

# Warm push: every blob is in the registry.
warm_root="$mnt/push-root-$runs"
hyperfine -N --warmup 2 --runs 20 --export-json "$mnt/hf-push.json" \
  "$berth --root $warm_root --runroot $mnt/run push -q $reg/bench/img:1" >/dev/null

# Pull: the registry of the last push run holds the image.
blobs=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/bench/img/manifests/1" \
  | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
pulls=(); lbs=(); skopeos=(); podmans=()
for r in $(seq "$runs"); do
  # Lower bound: each layer alone, downloaded, decompressed and untarred; the
  # slowest of them (berth runs its layers in parallel).
  settle
  slowest=0
  for b in $blobs; do
    d="$mnt/lb-pull-$r/${b#sha256:}" && mkdir -p "$d"
    t0=$(now)
    curl -sf "http://$reg/v2/bench/img/blobs/$b" | gzip -dc | tar -x -C "$d"
    t1=$(now)
    slowest=$(python3 -c "import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))" "$slowest" "$(echo "$t1 - $t0" | bc)")
  done
  lbs+=("$slowest")

  settle
  t0=$(now)
  "$berth" --root "$mnt/pull-root-$r" --runroot "$mnt/run" pull -q "$reg/bench/img:1" >/dev/null
  t1=$(now)
  pulls+=("$(echo "$t1 - $t0" | bc)")

  settle
  t0=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$reg/bench/img:1" \
    "containers-storage:[overlay@$mnt/skopeo-root-$r+$mnt/skopeo-run-$r]bench/img:1" >/dev/null
  t1=$(now)
  skopeos+=("$(echo "$t1 - $t0" | bc)")

  settle
  t0=$(now)
  podman --root "$mnt/podman-root-$r" --runroot "$mnt/podman-run-$r" --storage-driver overlay \
    --events-backend none pull -q --tls-verify=false "$reg/bench/img:1" >/dev/null
  t1=$(now)
  podmans+=("$(echo "$t1 - $t0" | bc)")
done
pr=(); sr=(); qr=()
for i in "${!pulls[@]}"; do
  pr+=("$(ratio "${pulls[$i]}" "${lbs[$i]}")")
  sr+=("$(ratio "${pulls[$i]}" "${skopeos[$i]}")")
  qr+=("$(ratio "${pulls[$i]}" "${podmans[$i]}")")
done
echo "pull: median ratio $(median "${pr[@]}") (berth pull / slowest single layer curl|gzip -d|tar -x)  berth: ${pulls[*]}  lower bound: ${lbs[*]}"
echo "pull: median ratio $(median "${sr[@]}") (berth pull / skopeo copy to containers-storage overlay)  skopeo: ${skopeos[*]}"
echo "pull: median ratio $(median "${qr[@]}") (berth pull / podman pull, overlay)  podman: ${podmans[*]}"

hyperfine -N --warmup 2 --runs 20 --export-json "$mnt/hf-pull.json" \
  "$berth --root $mnt/pull-root-1 --runroot $mnt/run pull -q $reg/bench/img:1" >/dev/null
python3 - "$mnt/hf-pull.json" "$mnt/hf-push.json" <<'PY'
import json, sys
for name, path in [("pull, every layer present", sys.argv[1]), ("push, every blob in the registry", sys.argv[2])]:
    res = json.load(open(path))["results"][0]
    print(f"{name}: mean {res['mean']*1000:.1f} ms, min {res['min']*1000:.1f} ms, max {res['max']*1000:.1f} ms (target < 100 ms)")
PY
