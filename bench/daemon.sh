#!/usr/bin/env bash
# The daemon in the guest, side by side with keepalived 2.2.7 (`keepalived -C`)
# on the same generated config of N healthy real servers: start to complete
# table and peak RSS (LVSD_BENCH_SIZES, default 2000,20000), and lvsd's reload
# of the unchanged config against the 1 s goal (LVSD_BENCH_RELOAD, default
# 20000). See tests/kernel_daemon_bench.rs for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test kernel_daemon_bench --no-run 2>/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test kernel_daemon_bench -- --ignored --nocapture > "$out" 2>&1 || status=$?
grep -E '^(figure:|lvsd with)' "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
