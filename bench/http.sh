#!/usr/bin/env bash
# HTTP_GET in the guest, lvsd beside keepalived 2.2.7 (`keepalived -C`): CPU
# per 1,000 probes at 200 real servers, delay_loop 1, a url with a digest,
# one busybox httpd answering on every real server's address (goal: 0.8x
# keepalived's). See `bench_http_get_cpu_against_keepalived` in
# tests/kernel_http.rs; LVSD_BENCH_SECONDS sets the window (default 20),
# LVSD_BENCH_ROUNDS the rounds (default 3, in alternating order, medians of
# the rounds' ratios); LVSD_BENCH_BASE=PATH adds a baseline lvsd binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test kernel_http --no-run
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test kernel_http bench_http_get_cpu_against_keepalived -- --ignored --nocapture > "$out" 2>&1 || status=$?
grep -E "^(figure:|keepalived:|lvsd|floor)" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
