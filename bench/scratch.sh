# Sourced by the benchmarks that need no test image (build, containers):
# builds berth (release) and gives it a fresh store in WORKDIR.
# Usage: source bench/scratch.sh DEFAULT_WORKDIR [WORKDIR]
# Sets: work, berth_bin, root, run; defines berth (with that store).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${2:-$1}
# BERTH=/path/to/berth measures that binary instead (a before/after
# comparison of two commits); else the release build of this checkout.
if [ -n "${BERTH:-}" ]; then
  berth_bin=$(realpath "$BERTH")
else
  cargo build --release --quiet
  berth_bin=$PWD/target/release/berth
fi
rm -rf "$work"
mkdir -p "$work"
root=$work/root run=$work/run
berth() { "$berth_bin" --root "$root" --runroot "$run" "$@"; }
