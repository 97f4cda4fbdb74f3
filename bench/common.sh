# Sourced by the benchmarks: builds berth (release), makes the ~800 MB test
# image once, and offers a fresh ext4 on a loop device so that the host
# filesystem's history does not decide the figures.
# Sets: work (WORKDIR, $1 of the caller), berth; defines now, mount_scratch,
# unmount_scratch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-/var/tmp/berth-bench}
# BERTH=/path/to/berth measures that binary instead (a before/after
# comparison of two commits); else the release build of this checkout.
if [ -n "${BERTH:-}" ]; then
  berth=$(realpath "$BERTH")
else
  cargo build --release --quiet
  berth=$PWD/target/release/berth
fi
mkdir -p "$work"
if [ ! -f "$work/image.tar" ]; then
  echo "building the test image in $work ..." >&2
  python3 bench/make_image.py "$work" >/dev/null
fi

now() { date +%s.%N; }

# mount_scratch DIR IMAGE SIZE: a new ext4 of SIZE in file IMAGE, mounted on DIR.
mount_scratch() {
  mkdir -p "$1"
  truncate -s "$3" "$2"
  mkfs.ext4 -q -F "$2"
  mount -o loop "$2" "$1"
}

# unmount_scratch DIR IMAGE: the reverse, quietly.
unmount_scratch() { umount "$1" 2>/dev/null || true; rm -f "$2"; }

# free_loopback_addr: 127.0.0.1:PORT with a port nothing listens on.
free_loopback_addr() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print("127.0.0.1:%d" % s.getsockname()[1])'
}

# start_docker_registry STORAGE_DIR ADDR CONFIG_FILE: Debian's docker-registry
# on ADDR, storing in STORAGE_DIR; sets docker_registry_pid.
start_docker_registry() {
  cat > "$3" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $1}, delete: {enabled: true}}
http: {addr: $2}
EOF
  docker-registry serve "$3" >/dev/null 2>&1 &
  docker_registry_pid=$!
  for _ in $(seq 100); do curl -sf "http://$2/v2/" >/dev/null && return; sleep 0.1; done
  echo "docker-registry did not start" >&2; exit 1
}

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
