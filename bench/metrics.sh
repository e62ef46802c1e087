#!/usr/bin/env bash
# Metrics on the host, lvsd --dry-run, loopback only: a scrape of /metrics at
# 20,000 real servers (wall time, transient memory) against the goals, and
# CPU per 1,000 TCP_CHECK probes with metrics on vs off. See
# tests/metrics_bench.rs for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test metrics_bench --no-run
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test metrics_bench -- --ignored --nocapture --test-threads 1 > "$out" 2>&1 || status=$?
grep -E "^(figure:|scrape:|cpu per)" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
