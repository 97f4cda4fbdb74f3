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
