#!/usr/bin/env bash
# Guest boot time: qemu start to the first command answered, and boot plus a
# small IPVS scenario, against the 15 s goal; plus the harness's knobs
# (vCPUs, memory, initramfs size and compression) against its defaults.
# BENCH_QUICK=1 measures the defaults and the bare kernel only, once.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p lvsd-vm --example boot_time
target/release/examples/boot_time ${BENCH_QUICK:+--quick} 2> >(grep -v '^lvsd-vm: booting' >&2)
