#!/usr/bin/env bash
# UDP_CHECK and PING_CHECK in the guest, side by side with keepalived 2.2.7
# (`keepalived -C`): CPU per 1,000 probes at 200 healthy real servers,
# delay_loop 1 (LVSD_BENCH_SECONDS of probing, default 10, LVSD_BENCH_ROUNDS
# rounds, default 3; LVSD_BENCH_BASE=PATH adds a baseline lvsd binary). See
# tests/kernel_udp_ping_bench.rs for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test kernel_udp_ping_bench --no-run
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test kernel_udp_ping_bench -- --ignored --nocapture > "$out" 2>&1 || status=$?
grep -E "^(figure:|UDP_CHECK|PING_CHECK|lvsd threads)" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
