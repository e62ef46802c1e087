#!/usr/bin/env bash
# BFD on the host, in two namespaces: LVSD_BENCH_SESSIONS (default 1,000)
# sessions at 50 ms between lvsd and FRR's bfdd: CPU of lvsd's BFD thread
# beside bfdd's, the whole lvsd vs the 5 % goal, false downs over
# LVSD_BENCH_SECONDS (default 30), the time from the peer stopping to
# each real server's removal and the detection error; the floor (the same
# packets from a C program that does nothing else, bench/floor/bfd_floor.c)
# beside the whole lvsd at 1,000 sessions; then the schedule lag
# of LVSD_BENCH_TCP (default 10,000) TCP_CHECKs beside the sessions and
# alone. See tests/bfd_bench.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test bfd_bench --no-run
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test bfd_bench -- --ignored --nocapture --test-threads=1 > "$out" 2>&1 || status=$?
grep -E "^(figure:|floor,|false downs|stop →|late wake-ups|lvsd's BFD thread)|sessions (up in|vs)|TCP checks beside" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
