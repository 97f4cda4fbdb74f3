#!/usr/bin/env bash
# The start cost of `--userns=auto`, in one run: `berth run --rm busybox true`
# with a user namespace of its own (a range taken in the database, the rootfs
# mounted through an ID-mapped mount, nothing chowned) vs without.
# Target: <= 1.2x. Runs alternate, in turn first, so that drift hits both alike.
# Containers get no network (--bridge none) so only the user namespace differs.
# Usage: bench/userns.sh [WORKDIR]   (RUNS=30 by default; the work directory
# must be searchable by others: the container's root is an unprivileged user)
work=${1:-/var/tmp/berth-bench-userns}
source "$(dirname "${BASH_SOURCE[0]}")/start.sh"
chmod 0711 "$work"
b run --rm --userns auto busybox true

with=(); without=()
auto() { timed with b run --rm --userns auto busybox true; }
host() { timed without b run --rm busybox true; }
for i in $(seq "$runs"); do in_turn "$i" auto host; done
mw=$(median "${with[@]}"); mo=$(median "${without[@]}")
echo "berth run --rm busybox true on $(df --output=fstype "$work" | tail -1): --userns auto ${mw} ms, host user namespace ${mo} ms: ratio $(ratio "$mw" "$mo") (target <= 1.2)"
