#!/usr/bin/env bash
# SSL_GET in the guest, lvsd beside keepalived 2.2.7 (`keepalived -C`): CPU
# per 1,000 probes at 200 real servers, delay_loop 10 (LVSD_BENCH_DELAY_LOOP;
# the TCG guest cannot serve 200 OpenSSL handshakes a second),
# answered by eight `openssl s_server -www` (self-signed certificate; goal:
# 0.5x keepalived's), and full TLS handshakes per 100 probes as the
# s_servers log them (goal: 10; keepalived makes a full one every probe).
# See `bench_ssl_get_cpu_and_handshakes_against_keepalived` in
# tests/kernel_tls.rs; LVSD_BENCH_SECONDS sets the window (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test kernel_tls --no-run
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test kernel_tls bench_ssl_get_cpu_and_handshakes_against_keepalived -- --ignored --nocapture > "$out" 2>&1 || status=$?
grep -E "^(figure:|keepalived:|lvsd:)" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
