#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test
# (unit, snapshotter suites on real overlayfs, integration tests driving the
# binary, interop with podman and skopeo). Needs root for mounts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
