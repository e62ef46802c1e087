#!/usr/bin/env bash
# lvsd --dry-run against the floor of a TCP checker, on the host, each in a
# process of its own, timed alike (perf stat on the whole process), in a
# network namespace of the bench's own: 5,000 and 20,000 loopback targets at
# 5,000 checks/s. See bench/floor/run.py for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin lvsd
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cc -O2 -Wall -o "$bin/prober" bench/floor/prober.c
cc -O2 -Wall -o "$bin/listener" bench/floor/listener.c
python3 bench/floor/run.py "$PWD/target/release/lvsd" "$bin/prober" "$bin/listener"
