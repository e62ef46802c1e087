#!/usr/bin/env bash
# IPVS table writes and dumps in the guest: `lvsd ipvs restore` vs
# `ipvsadm -R` and `lvsd ipvs save` vs `ipvsadm -Sn` on a 200-service x
# 100-destination mixed table (tests/kernel_ipvs.rs,
# bench_restore_and_save_against_ipvsadm), each tool in a fresh network
# namespace, with the kernel's rate estimation on and off.
# BENCH_SCALING=1 also prints how restore time grows with the table.
set -euo pipefail
cd "$(dirname "$0")/.."
filter=bench_restore_and_save_against_ipvsadm
[[ -n ${BENCH_SCALING:-} ]] && filter=bench_restore
cargo test --release --test kernel_ipvs "$filter" -- --ignored --nocapture --test-threads 1 \
    2> >(grep -v '^lvsd-vm: booting' >&2) | grep -v '^test \|^running \|^$\|^test result\|^ *Running\|^ *Finished\|^ *Compiling'
