//! lvsd's IPVS family against the real kernel (one guest for the whole
//! file, see `tests/vm`): the behaviour suite, byte-for-byte `ipvsadm -Sn` /
//! `ipvsadm -Ln` on a 200-service mixed table both ways, and (ignored, run
//! by `bench/run`) the restore and dump benchmark against ipvsadm.
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use std::collections::BTreeMap;

use lvsd::ipvs::restore::{parse, RestoreLine};
use lvsd::ipvs::suite::{mixed_restore_lines, parse_cases};
use lvsd::ipvs::{
    format, DestKey, Destination, IpvsTable, MemoryTable, Service, ServiceEntry, ServiceKey,
};
use lvsd_vm::{Guest, GuestSpec, SharedGuest};

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    GUEST.get(|| {
        GuestSpec::new("kernel_ipvs")
            .memory_mb(1024)
            .net_tools()
            .binary_at(env!("CARGO_BIN_EXE_lvsd"), "/usr/local/bin/lvsd")
    })
}

/// The table the in-memory model holds after applying `lines`.
fn memory_table(lines: &str) -> Vec<ServiceEntry> {
    let mut t = MemoryTable::new();
    for l in parse(lines).expect("generated lines parse") {
        match l {
            RestoreLine::Op(op) => t.apply_one(&op).expect("generated ops apply"),
            RestoreLine::Flush => t.flush().expect("flush"),
        }
    }
    t.dump().expect("dump")
}

/// Services and destinations without counters, keyed for comparison.
fn settings(
    table: &[ServiceEntry],
) -> BTreeMap<ServiceKey, (Service, BTreeMap<DestKey, Destination>)> {
    table
        .iter()
        .map(|e| {
            let dests = e.dests.iter().map(|d| (d.dest.key, d.dest)).collect();
            (e.service.key, (e.service.clone(), dests))
        })
        .collect()
}

#[test]
fn behaviour_suite_matches_the_kernel() {
    let Some(mut guest) = guest() else { return };
    let cases = parse_cases(include_str!("data/ipvs_behaviour.txt"));
    let mut failures = Vec::new();
    for case in &cases {
        guest
            .write_file("/tmp/ops", case.ops.as_bytes())
            .expect("write ops");
        let results = guest
            .run("ipvsadm -C; lvsd ipvs restore --report < /tmp/ops 2>/dev/null")
            .expect("restore runs")
            .stdout;
        let table = guest.run_ok("ipvsadm -Sn");
        if results != case.results || table != case.table {
            failures.push(format!(
                "case `{}`:\n-- results\n{results}-- expected\n{}-- table\n{table}-- expected\n{}",
                case.name, case.results, case.table
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn table_written_by_lvsd_reads_back_through_ipvsadm() {
    let Some(mut guest) = guest() else { return };
    let lines = mixed_restore_lines(200, 3);
    guest
        .write_file("/tmp/mixed", lines.as_bytes())
        .expect("write");
    guest.run_ok("ipvsadm -C && lvsd ipvs restore < /tmp/mixed");
    let ipvsadm_save = guest.run_ok("ipvsadm -Sn");
    assert_eq!(
        ipvsadm_save,
        format::save(&memory_table(&lines)),
        "kernel table = model"
    );
    assert_eq!(ipvsadm_save.lines().count(), 800);
    assert_eq!(
        guest.run_ok("lvsd ipvs save"),
        ipvsadm_save,
        "lvsd save = ipvsadm -Sn"
    );
    assert_eq!(
        guest.run_ok("lvsd ipvs list"),
        guest.run_ok("ipvsadm -Ln"),
        "lvsd list = ipvsadm -Ln"
    );
}

#[test]
fn table_written_by_ipvsadm_reads_back_through_lvsd() {
    let Some(mut guest) = guest() else { return };
    let lines = mixed_restore_lines(200, 3);
    guest
        .write_file("/tmp/mixed", lines.as_bytes())
        .expect("write");
    guest.run_ok("ipvsadm -C && ipvsadm -R < /tmp/mixed");
    let json = guest.run_ok("lvsd ipvs list --json");
    let dump: Vec<ServiceEntry> = serde_json::from_str(&json).expect("lvsd's JSON dump");
    // Every attribute, thresholds included, as the model says ipvsadm wrote them.
    assert_eq!(settings(&dump), settings(&memory_table(&lines)));
    assert_eq!(guest.run_ok("lvsd ipvs save"), guest.run_ok("ipvsadm -Sn"));
}

/// Makes a fresh network namespace `ns` (its own empty IPVS table and
/// destination trash) with IPVS rate estimation on or off, and a route that
/// makes the benchmark's real-server addresses unicast there.
fn fresh_netns(guest: &mut Guest, ns: &str, estimation: bool) {
    guest.run_ok(&format!(
        "ip netns add {ns} && ip -n {ns} link set lo up && ip -n {ns} route add 172.16.0.0/12 dev lo && \
         ip netns exec {ns} sh -c 'echo {} > /proc/sys/net/ipv4/vs/run_estimation'",
        u8::from(estimation)
    ));
}

/// Seconds `cmd` takes inside namespace `ns` (bash's `time`).
fn timed(guest: &mut Guest, ns: &str, cmd: &str) -> f64 {
    let script =
        format!("TIMEFORMAT=%R; {{ time ip netns exec {ns} sh -c '{cmd}' >/dev/null; }} 2>&1");
    let out = guest
        .run_timeout(&script, std::time::Duration::from_secs(900))
        .expect("timed script runs");
    assert!(out.success(), "{out}");
    out.stdout
        .trim()
        .lines()
        .last()
        .and_then(|l| l.parse().ok())
        .expect("a time in seconds")
}

#[test]
#[ignore = "benchmark: run by bench/run"]
fn bench_restore_and_save_against_ipvsadm() {
    let Some(mut guest) = guest() else { return };
    let lines = mixed_restore_lines(200, 100);
    guest
        .write_file("/tmp/big", lines.as_bytes())
        .expect("write");
    println!(
        "IPVS benchmark in the guest (1 vCPU, TCG), 200 mixed services x 100 destinations ({} lines), each tool in a fresh netns:",
        lines.lines().count()
    );
    for (round, estimation) in [(0, true), (1, false)] {
        let (l, a) = (format!("bl{round}"), format!("ba{round}"));
        fresh_netns(&mut guest, &l, estimation);
        fresh_netns(&mut guest, &a, estimation);
        let lvsd_restore = timed(&mut guest, &l, "lvsd ipvs restore < /tmp/big");
        let ipvsadm_restore = timed(&mut guest, &a, "ipvsadm -R < /tmp/big");
        let same = guest.run_ok(&format!(
            "ip netns exec {l} ipvsadm -Sn > /tmp/l; ip netns exec {a} ipvsadm -Sn > /tmp/a; \
             cmp -s /tmp/l /tmp/a && echo same || echo differ"
        ));
        assert_eq!(same.trim(), "same", "both tools wrote the same table");
        // Dumps of the same table, best of three each.
        let best = |guest: &mut Guest, cmd: &str| {
            (0..3)
                .map(|_| timed(guest, &l, cmd))
                .fold(f64::INFINITY, f64::min)
        };
        let lvsd_save = best(&mut guest, "lvsd ipvs save");
        let ipvsadm_save = best(&mut guest, "ipvsadm -Sn");
        let est = if estimation { "on" } else { "off" };
        println!(
            "figure: restore 200x100 mixed table, estimation {est}, goal ratio <= 0.25 (s): lvsd {lvsd_restore:.3} | reference ipvsadm -R {ipvsadm_restore:.3} | ratio {:.3}",
            lvsd_restore / ipvsadm_restore
        );
        println!(
            "figure: dump 200x100 mixed table, estimation {est}, goal ratio <= 1 (s): lvsd save {lvsd_save:.3} | reference ipvsadm -Sn {ipvsadm_save:.3} | ratio {:.3}",
            lvsd_save / ipvsadm_save
        );
        guest.run_ok(&format!("ip netns del {l}; ip netns del {a}"));
    }
}

#[test]
#[ignore = "benchmark: how restore time grows with the table"]
fn bench_restore_scaling() {
    let Some(mut guest) = guest() else { return };
    let lines = mixed_restore_lines(200, 100);
    guest
        .write_file("/tmp/big", lines.as_bytes())
        .expect("write");
    for (i, n) in [2020, 5050, 10100, 20200].iter().enumerate() {
        let mut t = [0.0; 3];
        for (k, cmd) in [
            format!("head -{n} /tmp/big | lvsd ipvs restore"),
            format!("head -{n} /tmp/big | LVSD_NETLINK_WINDOW=1 lvsd ipvs restore"),
            format!("head -{n} /tmp/big | ipvsadm -R"),
        ]
        .iter()
        .enumerate()
        {
            let ns = format!("s{i}{k}");
            fresh_netns(&mut guest, &ns, false);
            t[k] = timed(&mut guest, &ns, cmd);
            guest.run_ok(&format!("ip netns del {ns}"));
        }
        println!(
            "restore {n} lines (estimation off): lvsd {:.3} s, lvsd unpipelined {:.3} s, ipvsadm -R {:.3} s",
            t[0], t[1], t[2]
        );
    }
}
