#!/bin/sh
# Control socket bench: `lvsd ctl status` and `lvsd ctl show rs --json` at
# 20,000 real servers (20 virtual servers x 1,000), against the goal of
# 100 ms for status. lvsd runs `--dry-run` (an in-memory table) on the
# host; the real servers are loopback addresses without checks, so nothing
# is probed and no packet leaves the machine.
# Prints the median wall time of RUNS calls, each a fresh `lvsd ctl`
# process (connect, request, answer, table printed).
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-11}
SERVERS=${SERVERS:-20000}
dir=target/bench/ctl
mkdir -p "$dir"
python3 - "$SERVERS" > "$dir/k.conf" <<'PY'
import sys
n = int(sys.argv[1])
for v in range((n + 999) // 1000):
    print(f"virtual_server 10.0.{v}.1 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP")
    for r in range(min(1000, n - v * 1000)):
        print(f"    real_server 127.{v}.{r // 250}.{r % 250 + 1} 8080 {{\n        weight 1\n    }}")
    print("}")
PY
cargo build --release --quiet
lvsd=target/release/lvsd
sock=$PWD/$dir/lvsd.sock
RUNTIME_DIRECTORY=$PWD/$dir "$lvsd" --dry-run --drift-interval 0 --state-file /dev/null \
    --ctl-socket "$sock" -f "$dir/k.conf" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
i=0
until "$lvsd" ctl --socket "$sock" status >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "lvsd did not answer" >&2; exit 1; }
    sleep 0.1
done
"$lvsd" ctl --socket "$sock" status

# median_ms ARGS...: the median wall time of RUNS `lvsd ctl ARGS` calls, in ms.
median_ms() {
    for _ in $(seq "$RUNS"); do
        s=$(date +%s%N)
        "$lvsd" ctl --socket "$sock" "$@" >/dev/null
        e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f\n", a[int((NR + 1) / 2)] / 1000 }'
}
status=$(median_ms status)
show=$(median_ms --json show rs)
table=$(median_ms show rs)
echo "figure: lvsd ctl status at $SERVERS real servers (ms, goal): lvsd $status | reference 100 | ratio $(awk "BEGIN { printf \"%.3f\", $status / 100 }")"
echo "ctl show rs --json at $SERVERS real servers: $show ms; as a table: $table ms (commentary)"
