#!/usr/bin/env bash
# Installs what berth's build, tests and demo need on Debian 12, as root.
# Idempotent: safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  busybox-static   # the tests' and demo's base image
  podman skopeo    # interop peers: archives written and read by others
  docker-registry  # the reference registry (registry tests)
  apache2-utils curl  # htpasswd files and raw HTTP in the registry tests
  umoci runc       # OCI peers
  docker.io        # the docker 20.10 CLI (API 1.41) that drives berth daemon; its dockerd is the peer of the benchmarks and the differential test
  docker-compose   # compose 1.29 against berth daemon
  systemd          # systemd-socket-activate: berth daemon -H fd:// as berth.socket starts it
  nftables iproute2 # berth's firewall table (nft) and the network tests' ip/ss
  iperf3            # the published-port throughput benchmark
  libseccomp-dev pkg-config
  zstd xz-utils openssl ca-certificates e2fsprogs
  python3 hyperfine bc wrk  # benchmarks
)
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"
# docker-py from PyPI (the SDK most tools use) for the daemon's tests.
if ! python3 -c 'import docker' >/dev/null 2>&1; then
  python3 -m pip install --quiet 'docker>=7,<8'
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
# A real S3 server for the registry's S3 backend tests: s3s-fs serves a
# directory over the S3 API (lighter than Garage: one small crate, ~2 min to
# build on 2 cores, no cluster layout to set up). 0.14.1 is the newest that
# builds with Debian-era stable toolchains (0.17 needs rustc 1.96).
if ! command -v s3s-fs >/dev/null 2>&1; then
  cargo install s3s-fs --version 0.14.1 --features binary --locked
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
