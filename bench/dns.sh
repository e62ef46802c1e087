#!/usr/bin/env bash
# DNS_CHECK in the guest, lvsd beside keepalived 2.2.7 (`keepalived -C`):
# CPU per 1,000 probes at 200 real servers, delay_loop 1, answered by one
# dnsmasq (LVSD_BENCH_SECONDS, LVSD_BENCH_ROUNDS, LVSD_BENCH_BASE: see
# tests/kernel_dns_bench.rs for what is measured and how).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test kernel_dns_bench -- --ignored --nocapture > "$out" 2>&1 || status=$?
grep -E "^(figure:|keepalived |lvsd|guest clocksource)" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
