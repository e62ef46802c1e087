#!/bin/sh
# Config bench: parse and validate a keepalived.conf with 100,000 real
# servers, lvsd -t against keepalived -t, on the same file.
#
# Prints wall time (best of RUNS), CPU time (user+sys) and peak RSS of both,
# and lvsd/keepalived ratios. Goal: time ratio <= 0.10, memory ratio <= 1.
# Needs: python3, awk, keepalived, GNU time (/usr/bin/time, Debian package `time`).
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SERVERS=${SERVERS:-100000}
conf=target/bench/config-$SERVERS.conf
mkdir -p target/bench
[ -s "$conf" ] || python3 bench/gen_config.py "$SERVERS" > "$conf"
cargo build --release --quiet
lvsd=target/release/lvsd
[ -x /usr/bin/time ] || { echo "install GNU time: apt-get install time" >&2; exit 1; }
command -v keepalived >/dev/null || { echo "install keepalived" >&2; exit 1; }

# measure NAME CMD...: best wall seconds, its CPU seconds, max RSS (KB) over RUNS.
measure() {
    name=$1; shift
    best=""
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %U %S %M" -o target/bench/time.out "$@" >/dev/null 2>&1 || true
        read -r wall user sys rss < target/bench/time.out
        cpu=$(awk "BEGIN { print $user + $sys }")
        if [ -z "$best" ] || awk "BEGIN { exit !($wall < $best) }"; then
            best=$wall; best_cpu=$cpu
        fi
        max_rss=$rss
    done
    echo "$name $best $best_cpu $max_rss"
}

size=$(stat -c %s "$conf")
echo "config: $conf ($SERVERS real servers, $((size / 1024)) KB)"
l=$(measure lvsd "$lvsd" -t -f "$conf")
k=$(measure keepalived keepalived -t -f "$conf")
printf '%-12s %10s %10s %12s\n' "" "wall (s)" "cpu (s)" "max RSS (MB)"
for row in "$l" "$k"; do
    set -- $row
    printf '%-12s %10s %10s %12.1f\n' "$1" "$2" "$3" "$(awk "BEGIN { print $4 / 1024 }")"
done
set -- $l; lw=$2; lc=$3; lm=$4
set -- $k; kw=$2; kc=$3; km=$4
awk "BEGIN { printf \"ratio lvsd/keepalived: wall %.3f  cpu %.3f  memory %.3f\\n\", $lw / $kw, $lc / $kc, $lm / $km }"
