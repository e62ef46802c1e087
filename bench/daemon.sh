#!/usr/bin/env bash
# The daemon in the guest, side by side with keepalived 2.2.7 (`keepalived -C`)
# on the same generated config of N healthy real servers: start to complete
# table and peak RSS (LVSD_BENCH_SIZES, default 2000,20000), and lvsd's reload
# of the unchanged config against the 1 s goal (LVSD_BENCH_RELOAD, default
# 20000). See tests/kernel_daemon_bench.rs for what is measured and how.
# Then overload (issue 22): 20,000 real servers at delay_loop 1, more than the
# guest checks on time, each program under the same cgroup CPU cap: checks/s
# started and completed, CPU used, longest over median gap between checks of
# a target, and why keepalived falls behind (tests/kernel_daemon_bench/overload.rs). LVSD_BENCH_ONLY=NAME runs only the guest tests whose
# name holds NAME (`overload`: that row alone), and not the host part.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q --test kernel_daemon_bench --no-run
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo test --release -q --test kernel_daemon_bench -- --ignored --nocapture ${LVSD_BENCH_ONLY:-} > "$out" 2>&1 || status=$?
grep -E "^(figure:|lvsd with|round|diag:|cpu:|overload:)" "$out" || true
if ((status != 0)); then
    cat "$out" >&2
    exit "$status"
fi
[[ -z ${LVSD_BENCH_ONLY:-} ]] || exit 0

# The issue's reload figure at full size, on the host (no IPVS there:
# --dry-run, an in-memory table): 100,000 real servers on loopback addresses
# (127.64.0.0/10; nothing listens, probes are refused locally), SIGHUP with
# the config unchanged, timed by lvsd's own log.
n=${LVSD_BENCH_HOST_RELOAD:-100000}
conf=$(mktemp) log=$(mktemp)
trap 'rm -f "$out" "$conf" "$log"' EXIT
awk -v n="$n" 'BEGIN {
    for (v = 0; v * 100 < n; v++) {
        printf "virtual_server 10.10.%d.%d 80 {\n delay_loop 300\n lb_algo rr\n lb_kind NAT\n protocol TCP\n", int(v / 250), v % 250 + 1
        for (i = v * 100; i < (v + 1) * 100 && i < n; i++)
            printf " real_server 127.%d.%d.%d 8080 {\n  TCP_CHECK {\n   connect_timeout 5\n  }\n }\n", 64 + int(i / 62500), int(i / 250) % 250, i % 250 + 1
        print "}"
    }
}' > "$conf"
bin=${CARGO_TARGET_DIR:-target}/release/lvsd
"$bin" --dry-run -f "$conf" --drift-interval 0 --state-file /dev/null > /dev/null 2> "$log" &
pid=$!
for _ in $(seq 600); do grep -q 'lvsd started' "$log" && break; sleep 0.1; done
kill -HUP "$pid"
for _ in $(seq 600); do grep -q 'reload complete' "$log" && break; sleep 0.1; done
hwm=$(awk '/VmHWM/ { print $2 }' /proc/"$pid"/status)
kill "$pid"
wait "$pid" || true
seconds() { grep -m1 "$1" "$log" | cut -c12-26 | awk -F: '{ printf "%.6f\n", $1 * 3600 + $2 * 60 + $3 }'; }
from=$(seconds reloading) to=$(seconds 'reload complete')
changes=$(grep -m1 'reload complete' "$log" | grep -o 'changes=[0-9]*')
awk -v a="$from" -v b="$to" -v n="$n" -v c="$changes" -v m="$hwm" 'BEGIN {
    printf "host --dry-run, %d real servers: reload %s, peak RSS %.1f MiB\n", n, c, m / 1024
    printf "figure: reload of an unchanged config, %d real servers, host (s): lvsd %.3f | goal 1.000 | ratio %.3f\n", n, b - a, b - a
}'
