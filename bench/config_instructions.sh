#!/bin/sh
# Config reading in instructions (valgrind callgrind), which do not care how
# busy the machine is: `lvsd -t` on generated configs of 20,000 and 100,000
# real servers (each a TCP_CHECK, as the daemon bench's reload config), and
# the compare + drop a reload of an unchanged config does after reading it
# (examples/config_reload_cost.rs).
#
# The reference is the figure before the work on these instructions (commit
# 78c7c1c, measured the same way); below 1 is better.
# Needs: valgrind, awk.
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "install valgrind" >&2; exit 1; }
# Two builds: with the example in the same build, cargo unifies the
# dev-dependencies' features into the lvsd binary too, and it is not the one
# `cargo build --release` makes (nor the one the references were measured on).
cargo build --release --quiet
cargo build --release --quiet --example config_reload_cost
mkdir -p target/bench

# config N: a config of N real servers, 100 a virtual server.
config() {
    awk -v n="$1" 'BEGIN { for (v = 0; v * 100 < n; v++) {
        printf "virtual_server 10.10.%d.%d 80 {\n delay_loop 1800\n lb_algo rr\n lb_kind NAT\n protocol TCP\n", int(v / 250), v % 250 + 1
        for (i = v * 100; i < (v + 1) * 100 && i < n; i++)
            printf " real_server 127.%d.%d.%d 8080 {\n  TCP_CHECK {\n   connect_timeout 5\n  }\n }\n", 64 + int(i / 62500), int(i / 250) % 250, i % 250 + 1
        print "}" } }'
}

# instructions ARGS...: instructions callgrind counts for ARGS.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=target/bench/callgrind.out "$@" \
        >/dev/null 2>target/bench/callgrind.err || true
    awk '/Collected :/ { print $NF }' target/bench/callgrind.err
}

figure() {
    awk -v what="$1" -v ours="$2" -v ref="$3" \
        'BEGIN { printf "figure: %s (instructions): lvsd %d | reference %d | ratio %.3f\n", what, ours, ref, ours / ref }'
}

for n in 20000 100000; do
    conf=target/bench/instructions-$n.conf
    config "$n" > "$conf"
    case $n in 20000) ref_t=68976343; ref_cd=9477294 ;; 100000) ref_t=342703533; ref_cd=47371248 ;; esac
    figure "lvsd -t, $n real servers" "$(instructions target/release/lvsd -t -f "$conf")" "$ref_t"
    cd_ins=$(instructions --toggle-collect='*compare_then_drop*' \
        target/release/examples/config_reload_cost "$conf")
    figure "reload compare + drop, $n real servers" "$cd_ins" "$ref_cd"
done
